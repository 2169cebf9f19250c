"""``python -m retailpulse.testing``: serve sample images on 127.0.0.1 to try the API by hand."""

from retailpulse.testing.imageserver import main

raise SystemExit(main())
