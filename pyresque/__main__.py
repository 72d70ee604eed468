from pyresque.cli import main

raise SystemExit(main())
