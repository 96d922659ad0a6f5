import sys

from shoplake.cli.main import main

sys.exit(main())
