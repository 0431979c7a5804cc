#!/usr/bin/env bash
# Placeholder until the rollout issue lands the molecule scenarios.
echo "molecule: no scenarios yet"
