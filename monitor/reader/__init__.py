"""Reading the web: fetch politely and guarded, detect encodings, parse feeds, normalize."""
