"""Code every part of MIA uses: settings, database, encryption, storage, audit, logging."""
