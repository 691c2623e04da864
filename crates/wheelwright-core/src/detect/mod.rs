//! Host detection: the probes that fill `Facts` (owned by the detect work).
