"""``python -m enphase_local`` runs the ``enphase-local`` command."""

from enphase_local.cli import main

raise SystemExit(main())
