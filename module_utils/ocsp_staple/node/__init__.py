"""node layer of the core; empty of imports on purpose (Ansible ships every __init__ it passes)."""
