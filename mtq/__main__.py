from mtq.cli import main

raise SystemExit(main())
