// Package pytorch reads PyTorch checkpoints (pytorch_model.bin, *.pt) without
// running them.
//
// A checkpoint written by torch.save since PyTorch 1.6 is a zip archive holding
// a pickle (<prefix>/data.pkl) and one raw little-endian file per storage
// (<prefix>/data/<key>). Unpickling it in Python can execute arbitrary code,
// so this package implements only the part of the pickle machine a state dict
// needs: protocol 2-5 data opcodes, collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, and persistent ids
// naming the typed storages (torch.FloatStorage ... torch.BoolStorage). Any
// other global (os.system, builtins.eval, ...) is refused with an error naming
// it; nothing is ever called. Legacy (pre-1.6, non-zip) files are refused.
//
// Tensors are described lazily: Open parses the pickle and checks every
// tensor's view against its storage; the bytes are read only when asked for,
// by section of the zip file for contiguous tensors (stored, uncompressed
// entries, which is what torch.save writes), so a converter streams a large
// checkpoint tensor by tensor.
package pytorch
