"""ADC: k-means, merging, token selection, soft labels, the gradient message, and its bytes."""
import math

import pytest
import torch

from adc.core.carrier import InProcessLink
from adc.double_compression.kmeans import cluster_weights, kmeans
from adc.methods import CutShape, create_method
from adc.core.models import create_model
from adc.core.split import SplitViT


def blobs(n_per=10, centers=4, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(centers, d, generator=g) * 10
    x = c.repeat_interleave(n_per, 0) + 0.1 * torch.randn(centers * n_per, d, generator=g)
    return x, torch.arange(centers).repeat_interleave(n_per)


def test_kmeans_recovers_separated_blobs():
    x, truth = blobs()
    assign = kmeans(x, 4, iters=20, init="kmeans++", generator=torch.Generator().manual_seed(0))
    # each true blob maps to exactly one cluster and vice versa
    pairs = {(int(a), int(t)) for a, t in zip(assign, truth)}
    assert len(pairs) == 4 and len({a for a, _ in pairs}) == 4


def test_kmeans_same_generator_state_same_assignment_and_seed_matters():
    x = torch.randn(64, 17, generator=torch.Generator().manual_seed(3))
    a1 = kmeans(x, 8, generator=torch.Generator().manual_seed(5))
    a2 = kmeans(x, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a1, a2)
    others = [kmeans(x, 8, iters=1, generator=torch.Generator().manual_seed(s)) for s in range(6, 12)]
    assert any(not torch.equal(a1, o) for o in others)


@pytest.mark.parametrize("x", [torch.zeros(10, 3), torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0]])])
def test_kmeans_degenerate_input_has_no_nan_means(x):
    assign = kmeans(x, 4, generator=torch.Generator().manual_seed(0))
    W = cluster_weights(assign, 4)
    means = W @ x
    assert torch.isfinite(means).all()
    assert assign.min() >= 0 and assign.max() < 4


def test_kmeans_fills_empty_clusters_when_points_allow():
    # 3 tight blobs but 6 clusters asked: every cluster must end with a member
    x, _ = blobs(n_per=5, centers=3)
    for seed in range(10):
        assign = kmeans(x, 6, generator=torch.Generator().manual_seed(seed))
        assert torch.bincount(assign, minlength=6).min() >= 1


def make_adc(B=32, N=17, D=64, C=10, **params):
    shape = CutShape(B, N, D, C)
    return create_method("adc", shape, generator=torch.Generator().manual_seed(0), **params)


def test_adc_sizes_follow_the_paper_rounding():
    m = make_adc(B=128, N=197, D=192, xi=0.1)
    T, k = m.num_clusters(128), m.num_keep(197)
    assert T == max(2, int(math.sqrt(0.1) * 128)) == 40
    assert k == max(1, int(math.sqrt(0.1) * 197)) == 62
    assert m.expected_xi() == pytest.approx(40 / 128 * 62 / 197)
    # batches smaller than T (last batch, B=1) work
    assert m.num_clusters(1) == 1


def test_adc_output_shapes_soft_labels_and_cls_kept():
    torch.manual_seed(0)
    B, N, D, C = 32, 17, 64, 10
    m = make_adc(B, N, D, C, xi=0.25)
    acts = torch.randn(B, N, D)
    attn = torch.rand(B, N).softmax(-1)
    labels = torch.randint(0, C, (B,))
    out, soft, details = m.compress(acts, attn, labels)
    T, k = m.num_clusters(B), m.num_keep(N)
    assert out.shape == (T, k, D)
    assert soft.shape == (T, C)
    torch.testing.assert_close(soft.sum(1), torch.ones(T))
    assert (details["tokens"][:, 0] == 0).all()                   # CLS always kept
    # the merged CLS is the plain mean of the members' CLS activations
    assign = details["assign"]
    for t in range(T):
        members = acts[assign == t, 0]
        torch.testing.assert_close(out[t, 0], members.mean(0))
    # kept tokens are the top (k-1) of the centroid attention over patches
    W = cluster_weights(assign, T)
    cent = W @ attn
    expected = cent[:, 1:].topk(k - 1, dim=1).indices.sort(1).values + 1
    assert torch.equal(details["tokens"][:, 1:], expected)


def test_adc_step_gradient_message_shape_and_client_gradients():
    torch.manual_seed(0)
    split = SplitViT(create_model("vit_micro", num_classes=10), 1)
    B = 24
    m = create_method("adc", CutShape(B, split.num_tokens, split.embed_dim, 10), torch.Generator().manual_seed(0),
                      xi=0.1)
    link = InProcessLink()
    x, y = torch.randn(B, 1, 8, 8), torch.randint(0, 10, (B,))
    acts, attn = split.client(x)
    up, cstate = m.encode(acts, attn, y)
    T, k = m.num_clusters(B), m.num_keep(split.num_tokens)
    received = link.up(up)
    assert not received["acts"].requires_grad and received["acts"].grad_fn is None   # crossed the cut
    tokens, targets, sstate = m.decode(received)
    loss = m.loss(split.server(tokens), targets)
    loss.backward()
    down = m.encode_grad(sstate)
    assert down["acts"].shape == (T, k, split.embed_dim)
    # bytes counted are exactly the tensors that crossed
    assert up.nbytes == T * k * 32 * 4 + T * 10 * 4
    assert down.nbytes == T * k * 32 * 4
    assert up.payload_nbytes == down.payload_nbytes == T * k * 32 * 4
    m.decode_grad(cstate, link.down(down))
    grads = [p.grad for p in split.client.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert split.client.patch_embed.proj.weight.grad.abs().sum() > 0


def test_adc_parameters_are_validated_with_clear_errors():
    with pytest.raises(ValueError, match=r"xi=1.5 is outside \(0, 1\]"):
        make_adc(xi=1.5)
    with pytest.raises(ValueError, match="unknown parameter.*'rate'.*allowed"):
        make_adc(rate=0.1)
    with pytest.raises(ValueError, match="cluster_on='bogus'"):
        make_adc(cluster_on="bogus")
    with pytest.raises(ValueError, match="not a valid float"):
        make_adc(xi="abc")


@pytest.mark.parametrize("on", ["attention", "cls", "mean"])
def test_adc_cluster_on_options_and_kmeanspp(on):
    m = make_adc(xi=0.2, cluster_on=on, init="kmeans++")
    out, soft, _ = m.compress(torch.randn(32, 17, 64), torch.rand(32, 17).softmax(-1), torch.randint(0, 10, (32,)))
    assert out.shape[0] == m.num_clusters(32) and torch.isfinite(out).all()


def test_adc_balance_and_direct_ratios():
    m = make_adc(B=100, N=101, xi=0.04, balance=1.0)      # all of xi on merging
    assert m.num_clusters(100) == 4 and m.num_keep(101) == 101
    m = make_adc(B=100, N=101, merge_ratio=0.5, keep_ratio=0.2)
    assert m.num_clusters(100) == 50 and m.num_keep(101) == 20
