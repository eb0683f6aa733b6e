import sys

from downwind.cli.main import main

sys.exit(main())
