"""ksac-cli: Kernel-Sharing Atrous Convolution (Huang et al., arXiv 1908.09443) vs ASPP, measured honestly."""

__version__ = "0.1.0"
