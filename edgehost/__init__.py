"""edgefn: WebAssembly edge functions on a pull-based control plane."""

__version__ = "0.1.0"
