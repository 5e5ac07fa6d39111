from graphfix.cli import main

raise SystemExit(main())
