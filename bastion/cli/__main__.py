"""``python -m bastion.cli`` is the ``bastion`` command."""

from bastion.cli import main

main()
