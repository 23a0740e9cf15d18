"""Sans-IO codecs, one module per BMS family: bytes in, frames and Samples out, no I/O."""
