"""Building and shapes: one walker (walk) over a checked graph, with a torch backend (torch_build: an
fx GraphModule) and a Keras backend (keras_build: a functional Model); ops resolved by exact lookup
(resolve); shapes, parameters and bytes inferred on `meta` before any memory is allocated (shapes,
torch_shapes); devices picked and sized (devices); weights read and written as safetensors (weights);
a built model run on arrays (run).
"""
