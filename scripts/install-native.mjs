// PLACEHOLDER (native work): builds the addon from source when no prebuilt binary exists for this platform.
