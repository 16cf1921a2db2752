"""Training: the train section of a graph (spec) and its checks (check), data sets (data), the epoch
loops of each backend (torch_loop, keras_loop) driven by one session (session), checkpoints, history,
metrics and progress, and several processes under torch.distributed (distributed).
"""
