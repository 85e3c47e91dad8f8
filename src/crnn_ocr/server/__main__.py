from crnn_ocr.server.cli import main

raise SystemExit(main())
