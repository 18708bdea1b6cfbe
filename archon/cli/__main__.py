import sys

from archon.cli import main

sys.exit(main())
