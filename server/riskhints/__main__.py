from riskhints.cli import main

raise SystemExit(main())
