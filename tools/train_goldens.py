#!/usr/bin/env python3
"""Make the PyTorch training goldens: from generated weights and a generated
batch, the loss, every gradient, and the weights and BatchNorm statistics
after two SGD steps (momentum 0.9, weight decay 5e-4, lr 0.02). The
batch stays clear of the ReLUs' kinks (relu_margin).

    /usr/bin/python3 tools/train_goldens.py     # testdata/golden/train_*.safetensors

For the CIFAR ResNet-20 every tensor is stored whole; for resnet18 a few
tensors whole and the rest as (sum, sum of squares) pairs, to stay small.
For resnext50_32x4d, one step's gradients in float64 (run_f64), with
PyTorch's own float32 error on each.
"""
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goldens import OUT, CifarResNet, fill, generated, nhwc, uniform, write_safetensors  # noqa: E402

WHOLE_R18 = {"conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias",
             "layer2.0.downsample.0.weight"}
# ResNeXt-50's grouped 3x3 kernels of stride 1 (32 groups of 4 filters) and
# 2 (of 8) whole; every other tensor by its sums.
WHOLE_RX = {"layer1.0.conv2.weight", "layer2.0.conv2.weight", "fc.weight", "fc.bias"}


def summary(t):
    t = t.double()
    return torch.tensor([t.sum().item(), (t * t).sum().item()], dtype=torch.float32)


def relu_margin(make_model, x, labels):
    """The smallest |input| of any ReLU over two SGD steps, relative to the
    root mean square of its tensor: how far the batch keeps every ReLU from
    its kink. Within float32 rounding of it, a ReLU switches on a summation
    order alone, and every gradient below it moves by parts in a thousand."""
    relu, smallest = F.relu, [float("inf")]

    def watched(v, *args, **kwargs):
        smallest[0] = min(smallest[0], (v.abs().min() / v.pow(2).mean().sqrt()).item())
        return relu(v, *args, **kwargs)

    model = make_model()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    F.relu = watched
    try:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            opt.step()
    finally:
        F.relu = relu
    return smallest[0]


def run(name, make_model, size, batch, classes, whole, candidates=1):
    """Writes the golden of one training step of make_model(); of the first
    candidates generated batches ("input", "input.1", ...), the one whose
    ReLUs stay farthest from their kinks (relu_margin)."""
    u = torch.from_numpy(uniform("labels", batch))
    labels = ((u + 1) / 2 * classes).long().clamp(max=classes - 1)
    names = ["input"] + [f"input.{i}" for i in range(1, candidates)]
    inputs = {n: generated(n, [batch, 3, size, size]).float() * 2 for n in names}
    margin, pick = max((relu_margin(make_model, inputs[n], labels), n) for n in names) if candidates > 1 else (None, "input")
    x = inputs[pick]
    model = make_model()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    out = {"input": nhwc(x), "labels": labels.float()}
    for step in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        out[f"loss{step}"] = loss.detach().reshape(1)
        if step == 0:
            for k, p in model.named_parameters():
                out["grad/" + k] = p.grad.detach().clone() if whole(k) else summary(p.grad)
        opt.step()
    for k, t in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        out["after/" + k] = t if whole(k) else summary(t)
    write_safetensors(os.path.join(OUT, f"train_{name}.safetensors"), out, {"torch": torch.__version__})
    print(f"{name}: batch {pick!r} (ReLU margin {margin}), loss {out['loss0'].item():.6f} -> {out['loss1'].item():.6f}, labels {labels.tolist()}")


def run_f64(name, make_model, size, batch, classes, whole):
    """Writes the golden of one training step's gradients computed in
    float64, where float32 itself is too coarse for a fixed tolerance (a
    ResNeXt from these generated weights: PyTorch's own float32 gradients
    are 1-3% from float64's). For each tensor it also stores "tol/" +
    name, PyTorch's float32 error against float64 by the Go test's measure
    (compare in train/golden_test.go), which the test holds ours to."""
    u = torch.from_numpy(uniform("labels", batch))
    labels = ((u + 1) / 2 * classes).long().clamp(max=classes - 1)
    x = generated("input", [batch, 3, size, size]).float() * 2

    def step(dtype):
        model = make_model().to(dtype)
        model.train()
        loss = F.cross_entropy(model(x.to(dtype)), labels)
        loss.backward()
        return loss.item(), {k: p.grad.detach().double() for k, p in model.named_parameters()}
    loss32, g32 = step(torch.float32)
    loss64, g64 = step(torch.float64)
    out = {"input": nhwc(x), "labels": labels.float(), "loss0": torch.tensor([loss64], dtype=torch.float32)}
    for k, want in g64.items():
        got = g32[k]
        if whole(k):
            out["grad/" + k] = want.float()
            err = ((got - want).norm() / (want.norm() + 1e-30)).item()
        else:
            out["grad/" + k] = summary(want)
            sq = want.pow(2).sum().sqrt().item() + 1e-12
            err = max(abs(got.sum().item() - want.sum().item()) / (sq * want.numel() ** 0.5),
                      abs(got.pow(2).sum().sqrt().item() - want.pow(2).sum().sqrt().item()) / sq)
        out["tol/" + k] = torch.tensor([err], dtype=torch.float32)
    write_safetensors(os.path.join(OUT, f"train_{name}.safetensors"), out,
                      {"torch": torch.__version__, "reference": "float64"})
    worst = max(out[k].item() for k in out if k.startswith("tol/"))
    print(f"{name}: float64 loss {loss64:.6f} (float32 {loss32:.6f}), PyTorch's float32 gradients up to {worst:.2g} off")


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    # ResNet-20's tensors are compared whole, and one ReLU switched by
    # float32 rounding moves them by parts in a thousand: its batch is
    # small (4 images of 16x16, 190,000 ReLU inputs a step) and picked
    # among 32 for the widest ReLU margin. (8 images of 32x32 left margins
    # of 1e-7 to 1e-6 of the tensors' RMS: a change of summation order, or
    # of every seventh input value by one ulp, switched a ReLU.)
    run("resnet20", lambda: fill(CifarResNet(3)), 16, 4, 10, lambda k: True, candidates=32)
    run("resnet18", lambda: fill(torchvision.models.resnet18(weights=None, num_classes=10)), 64, 16, 10, lambda k: k in WHOLE_R18)
    run_f64("resnext50_32x4d", lambda: fill(torchvision.models.resnext50_32x4d(weights=None, num_classes=10)), 64, 8, 10,
            lambda k: k in WHOLE_RX)


if __name__ == "__main__":
    sys.exit(main())
