"""The losses, one module per family. Each public function validates its arguments (through
``numloss._validate``) and hands C-contiguous arrays to a kernel from ``numloss._kernels``."""
