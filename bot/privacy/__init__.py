"""Personal data kept where it belongs: masked on its way out (`mask`), and every access to
the originals written down (`audit`)."""
