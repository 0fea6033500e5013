import sys

from p2o.cli import main

sys.exit(main())
