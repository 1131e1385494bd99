"""Guest toolchains: the compilers `edgefn build` and `edgefn dev` run to turn a function's
source into WebAssembly (componentize-py for Python components), and the recogniser that tells
which toolchain built a component."""
