from mtq.cli.main import main

raise SystemExit(main())
