"""The executed notebooks in the repository show the decks' numbers, every figure, and their data source.

These tests read the stored outputs (from the full-mode run that was committed), so they catch a
notebook that was saved unexecuted, half-executed, or from a run that went wrong.
"""
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def stored(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    texts, images, errors = [], 0, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors.append(out.ename)
            if out.output_type == "stream":
                texts.append(out.text)
            data = out.get("data", {})
            texts.append(data.get("text/plain", ""))
            images += "image/png" in data
    return nb, "\n".join(texts), images, errors


def notebook(pattern):
    matches = sorted(ROOT.glob(pattern))
    assert len(matches) == 1, f"expected one notebook matching {pattern}, found {matches}"
    return matches[0].relative_to(ROOT)


EXPECTED = {
    "notebooks/01_*.ipynb": {
        "texts": ["Total params: 795,010", "785,000", "10,010", "Test accuracy: 0.9", "torch.Size([4, 1, 28, 28])",
                  "inputs: torch.Size([32, 784])", "MNIST train: 60,000 images", "MNIST test: 10,000 images", "mode: full",
                  "the formula above gives the same numbers: True",
                  "equals λθ: True", "SGD   with weight_decay=λ, one step: θ = [ 0.95 -1.9   2.85]",
                  "AdamW with weight_decay=λ, one step: θ = [ 0.95 -1.9   2.85]",
                  "the two examples of one batch lost the same units: False",
                  # section 7: choices on validation, then five seeds, the test set once
                  "seed 0: 2,000 training and 2,000 validation digits, 20% of both with a wrong label; 40 epochs",
                  "chosen on validation: weight decay λ =", "5 seed(s), mean ± std; gap = training accuracy on the correctly labelled",
                  "wrong labels learned", "test accuracy, paired over the seeds:", "gap, paired over the seeds (smaller is better):",
                  # section 8: three networks, three seeds
                  "training loss after the last epoch, in evaluation mode (lower is better):",
                  "training mode, two passes over the same batch agree:   False",
                  "evaluation mode, two passes over the same batch agree: True",
                  "one image in training mode fails: Expected more than 1 value per channel when training",
                  "whole test set, draw 2: training mode", "test accuracy (mean ± std over seeds)"],
        "figures": 9,
    },
    "solutions/lab01_*.ipynb": {
        "texts": ["✓ make_model", "✓ train_and_evaluate", "✓ results", "✓ plot_results", "✓ view_shape", "mode: full"],
        "figures": 1,
    },
    # lecture 4: convnet intuition and transfer learning
    "notebooks/04_*.ipynb": {
        "texts": ["mode: full", "6,220,800 x 4,000,000 = 24,883,200,000,000", "changes 16 of the 35 inputs",
                  "sum = -1  ->  -1/9 = -0.11", "the slide shows -0.22, the code computes -5/9 = -0.5556",
                  "same as the slide: True", "strongest loop response: 1 for the 9, 1 for the shifted 9",
                  "[[8. 9.]\n [3. 2.]]", "[[4.   4.5 ]\n [2.   0.75]]", "output: (1, 32, 26, 26)",
                  "equals the sum by hand: True",
                  "Total params: 104,202", "(3*3*1 + 1) * 32 = 320", "(3*3*32 + 1) * 64 = 18,496",
                  "(3*3*64 + 1) * 128 = 73,856", "(1152 + 1) * 10 = 11,530", "total: 104,202", "whole model: 712,202",
                  "MNIST train: 60,000 images", "Test accuracy: 0.9", "against the book's 99.1 %", "Fashion-MNIST train: 60,000 images",
                  "48120*84+84    4,042,164    10,164    10,164", "4042164*10+10   40,421,650       850       850",
                  # section 6: augmentation against overfitting, three trainings of three draws each
                  "after 50 epochs, mean ± std over 5 draws of 200 training digits",
                  "no augmentation", "flip, rotate, zoom (the slides)", "rotate, zoom (no flips)",
                  # section 7: the two bases, the batch-norm checks, the sweep
                  "pretrained base on 10,000 Fashion-MNIST test images: 0.9196", "digit base: trained on 4,000 digits 0-4",
                  "requires_grad=False only: running mean of block1's batch norm changed: True",
                  "transfer.freeze:          running mean of block1's batch norm changed: False",
                  "fine-tuning kept every batch-norm running mean: True",
                  "classifier                      5,765        5,765", "total                          98,885       79,621",
                  "labels per class" + " " * 53 + "1                 5                50               500",
                  "draws" + " " * 63 + "10                 5                 5                10",
                  "early stopping: the steps kept on validation, median over the draws",
                  "feature extraction, digits 0-4", "fine-tuning (slides), Fashion-MNIST", "fine-tuning (standard), digits 0-4",
                  "feature extraction, random base",
                  "VGG16: 138,357,544 parameters: convolutional base 14,714,688, dense classifier 123,642,856",
                  "fine-tuning would also train the top block, features[24:]: 7,079,424 more parameters",
                  "test accuracy after 3 epoch(s) on 60,000 training images:", "how far each first-layer filter moved from its random start",
                  "the 9 comparisons the text reads, on the confirmation digits, paired over the draws"],
        "figures": 15,
    },
    "solutions/lab04_*.ipynb": {
        "texts": ["✓ class_test_net", "✓ params_by_hand", "✓ feature_extractor", "✓ fine_tune_setup", "✓ transfer_results",
                  "Total params: 248", "total         248      248", "mode: full"],
        "figures": 0,
    },
    # lecture 3: data augmentation and deep CNNs
    "notebooks/03_*.ipynb": {
        "texts": ["Total params: 138,357,544", "102,764,544", "4,097,000",
                  "VGG13: 10 conv + 3 dense = 13 layers with weights, 133,047,848 parameters",
                  "VGG16: 13 conv + 3 dense = 16 layers with weights, 138,357,544 parameters",
                  "VGG19: 16 conv + 3 dense = 19 layers with weights, 143,667,240 parameters",
                  "Total params: 421,306", "Fashion-MNIST train: 60,000 images", "mode: full",
                  "cslib.shifts.shift_probabilities gives the same numbers: True",
                  "CNN test accuracy: 0.9", "augmented CNN test accuracy: 0.", "deep CNN, augmented   0.9",
                  "seconds per epoch of 10,000 images, mean ± std of 3 repeats", "slides' loop, 2 workers",
                  "verdicts, repeat by repeat (seconds per epoch, lower is better):",
                  "3 seed(s), mean ± std; shifted: mean of the test set shifted 5 px left and 5 px right",
                  "np.roll and zero-fill give the same image for shifts from",
                  "the same at -5 and +5 px, np.roll (as above) against zero-fill:",
                  "the plain CNN's worst case: test image", "shift +0 px, down +4 px (np.roll): plain CNN:",
                  "when the size divides evenly it is plain average pooling: True",
                  "320x320 image -> feature maps (512, 10, 10) -> AdaptiveAvgPool2d -> (512, 7, 7)"],
        "figures": 14,
    },
    "solutions/lab03_*.ipynb": {
        "texts": ["✓ rotate_invert", "✓ shift_scale", "✓ my_transform", "✓ plot_samples", "✓ vgg_output_shapes",
                  "all 40 layers agree: True", "mode: full"],
        "figures": 1,
    },
    # Lecture 2 (convolutional networks): the deck's parameter counts, hand-computed convolution, shapes, accuracies.
    "notebooks/02_*.ipynb": {
        "texts": ["Fashion-MNIST train: 60,000 images", "Fashion-MNIST test: 10,000 images", "mode: full", "9 Ankle boot",
                  "Total params: 795,010", "785,000", "10,010", "Total params: 716,706", "640,200", "73,856", "[-1, 128, 5, 5]",
                  "C[0, 0] = 1×1 + 2×2 + 5×3 + 6×4 = 44", "C[0, 1] = 2×1 + 3×2 + 6×3 + 7×4 = 54",
                  "C[0, 2] = 3×1 + 4×2 + 7×3 + 8×4 = 64", "C[1, 0] = 5×1 + 6×2 + 9×3 + 10×4 = 84",
                  "C[1, 1] = 6×1 + 7×2 + 10×3 + 11×4 = 94", "same as convolve(A, B): True",
                  "output by hand: (8, 5, 4) | nn.Conv2d: (8, 5, 4)", "the same numbers: True",
                  "28  3  1  0 |      26 | (1, 1, 26, 26)", "3×3 convolution, 28×28 → 26×26: 10 parameters",
                  "a batch of inputs: torch.Size([32, 1, 28, 28])", "Test accuracy: 0.8", "Test accuracy: 0.9",
                  "MLP         795,010         0.8", "CNN         716,706         0.9",
                  "28  5  2  2 |      14 | (1, 1, 14, 14)   |         26", " 5  3  2  1 |       3 | (1, 1, 3, 3)     |         10",
                  "equal to A: False", "sum over the 8 channels", "nn.Conv2d's output[0, 1, 2] =",
                  "MNIST digits            10,000      10,000", "Fashion-MNIST           10,000      10,000", "mean pixel value: input",
                  "$CSLIB_DATA/FashionMNIST", "MNIST train: 60,000 images",
                  "deep MLP                782,366                    4", "CNN without pooling     998,306                    4",
                  "3 seed(s), 5 epochs each", "of them between T-shirt/top, Pullover, Coat and Shirt"],
        "figures": 17,  # 15 plots, the confusion matrices and the stride explorer's static picture
    },
    "solutions/lab02_*.ipynb": {
        "texts": ["✓ maxpool2d", "✓ pad", "✓ conv2d", "✓ A", "✓ C", "✓ D", "✓ E", "✓ bn_dropout_net", "✓ maxpool_backward",
                  "✓ cnn_table", "equal: True", "Total params: 999,458", "total                           999,458", "mode: full"],
        "figures": 2,
    },
}


@pytest.mark.parametrize("pattern", sorted(EXPECTED))
def test_stored_outputs_show_the_decks_numbers_and_figures(pattern):
    path = notebook(pattern)
    nb, text, images, errors = stored(path)
    assert not errors, f"{path} was stored with errors: {errors}"
    for expected in EXPECTED[pattern]["texts"]:
        assert expected in text, f"{path}: stored outputs lack {expected!r}"
    assert images == EXPECTED[pattern]["figures"], f"{path}: {images} figures stored, expected {EXPECTED[pattern]['figures']}"
    assert "✗" not in text, f"{path}: a check failed in the stored run"
    assert nb.metadata.get("cslib", {}).get("executed", {}).get("mode") == "full", f"{path} was not stored from a full-mode run"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]))
def test_checked_cells_have_stored_output(path):
    """A cell tagged nbval-check-output with no stored output would compare against nothing."""
    nb = nbformat.read(ROOT / path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if "nbval-check-output" in cell.metadata.get("tags", []):
            assert cell.get("outputs"), f"{path} cell {i} is tagged nbval-check-output but has no stored output"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in
                                        [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb"), *ROOT.glob("labs/*.ipynb")]))
def test_colab_badge_points_at_the_notebook_itself(path):
    import cslib

    first = nbformat.read(ROOT / path, as_version=4).cells[0].source
    folder = "labs" if path.startswith(("labs", "solutions")) else "notebooks"
    assert f"https://colab.research.google.com/github/{cslib.REPO}/blob/main/{folder}/{Path(path).name}" in first


def verdicts(text: str) -> list[tuple[str, str, str, str | None]]:
    """Every verdict line cslib.compare printed, as (heading, A, B, winner or None for "no measurable difference");
    the heading is the last line before it that ends with a colon (e.g. "test accuracy, paired over the seeds:")."""
    import re

    found, heading = [], ""
    for line in text.splitlines():
        m = re.search(r"(?:^|:\s+)\s*([^:]+?) vs ([^:]+?): (?:(no measurable difference)|(.+?) ahead in \d+ of \d+ \w+)", line)
        if m:
            found.append((heading, m[1].strip(), m[2].strip(), None if m[3] else m[4].strip()))
        elif line.strip().endswith(":"):
            heading = line.strip()
        assert " vs " not in line or not re.search(r": (fast mode|too few \w+ to conclude)", line), f"no verdict: {line}"
    return found


def verdict(found: list, a: str, b: str, under: str = "") -> str | None:
    """The winner of the one line comparing A with B whose heading contains ``under``; a name ending in '*'
    matches any name with that beginning."""
    hits = [w for heading, x, y, w in found
            if (x == a or a.endswith("*") and x.startswith(a[:-1])) and y == b and under in heading]
    assert len(hits) == 1, f"expected one verdict line '{a} vs {b}' under {under!r}, found {len(hits)}: {found}"
    return hits[0]


def test_lecture_1_stored_run_shows_what_its_text_concludes():
    """Section 6: the slides' number, held against the seeds' spread of the slides' loop (the text reads either
    outcome); section 7: early stopping beats
    training to the end, weight decay and dropout beat early stopping (dropout more), the wrong labels and the gap show
    no measurable difference from early stopping; section 8: batch norm lowers the training loss and raises the test
    accuracy, dropout on top makes no measurable difference; section 9: evaluation mode; section 10: fit is ahead."""
    import re

    _, text, _, _ = stored(notebook("notebooks/01_*.ipynb"))
    found = verdicts(text)
    assert verdict(found, "early stopping", "no regularization", "test accuracy") == "early stopping"
    for regularizer in ("weight decay*", "dropout p*"):
        assert verdict(found, regularizer, "early stopping", "test accuracy").startswith(regularizer[:-1])
        assert verdict(found, regularizer, "early stopping", "wrong labels") is None
        assert verdict(found, regularizer, "early stopping", "gap") is None
    assert verdict(found, "dropout p*", "weight decay λ = 3", "test accuracy").startswith("dropout")
    assert verdict(found, "early stopping", "no regularization", "gap") == "early stopping"
    assert verdict(found, "batch norm", "plain", "training loss") == "batch norm"
    assert verdict(found, "batch norm + dropout 0.25", "batch norm", "training loss") is None
    assert verdict(found, "batch norm", "plain", "test accuracy") == "batch norm"
    assert verdict(found, "batch norm + dropout 0.25", "batch norm", "test accuracy") is None
    assert verdict(found, "evaluation mode", "training mode") == "evaluation mode"
    assert re.search(r"the slides' loop\s+(0\.\d{4}) ± (0\.\d{4})", text), "the loop's seeds, to hold the slides' 0.9638 against"


def test_lecture_2_stored_run_shows_what_its_text_concludes():
    """The digits are easier than the clothes; the CNN is ahead of both MLPs, depth alone makes no measurable difference,
    neither does pooling against strided convolutions; most mistakes are among the upper-body garments."""
    import re

    _, text, _, _ = stored(notebook("notebooks/02_*.ipynb"))
    found = verdicts("\n".join(line for line in text.splitlines() if not line.endswith("(seconds per run)")))
    assert re.search(r"^CNN vs MLP: MLP ahead in 3 of 3 seeds, mean \+\d+\.\d s .*\(seconds per run\)$", text, re.M)
    assert verdict(found, "digits", "clothes") == "digits"
    assert verdict(found, "CNN", "MLP") == "CNN" and verdict(found, "CNN", "deep MLP") == "CNN"
    assert verdict(found, "deep MLP", "MLP") is None and verdict(found, "CNN", "CNN without pooling") is None
    shares = [int(m) for m in re.findall(r"mistakes, (\d+)% of them between T-shirt/top", text)]
    assert len(shares) == 2 and min(shares) > 50, shares


def test_lab_solutions_stored_runs_show_what_their_model_answers_read():
    """Lab 1: batch norm + dropout ahead of dropout alone and dropout 0.9 behind (training and test accuracy), 0.1
    against 0.25 no measurable difference; in the balanced timing experiment nothing differs, its control included;
    lab 4: with the two comparisons read together, fine-tuning shows no measurable difference from either feature
    extraction. Every verdict block reads its comparisons together (comparisons=k, said on each line)."""
    found = verdicts(stored(notebook("solutions/lab01_*.ipynb"))[1])
    assert verdict(found, "BN + dropout 0.25", "dropout 0.25", "test accuracy") == "BN + dropout 0.25"
    assert verdict(found, "dropout 0.9", "dropout 0.25", "test accuracy") == "dropout 0.25"
    assert verdict(found, "BN + dropout 0.25", "dropout 0.25", "train accuracy") == "BN + dropout 0.25"
    assert verdict(found, "dropout 0.9", "dropout 0.25", "train accuracy") == "dropout 0.25"
    for under in ("test accuracy", "train accuracy"):
        assert verdict(found, "dropout 0.1", "dropout 0.25", under) is None
    # the timing experiment: its control (the same network twice) finds nothing, nor does any other comparison
    for name in ("dropout 0.25 (again)", "BN + dropout 0.25", "dropout 0.1", "dropout 0.9"):
        assert verdict(found, name, "dropout 0.25", "Paired over the rounds") is None
    import re

    text = stored(notebook("solutions/lab01_*.ipynb"))[1]
    assert "10 rounds (every network in every place equally often)" in text, "the full run's timing design, balanced"
    assert re.search(r"^dropout 0\.25 took \d+\.\d\d ± \d+\.\d\d s\.", text, re.M), "the time the differences are of"
    assert len(set(re.findall(r"^seed \d runs: (.+)$", text, re.M))) == 3, "each seed's order, printed"
    assert text.count("98.33 % interval") == 6 and text.count("98.75 % interval") == 4, "each block's comparisons together"
    text = stored(notebook("solutions/lab04_*.ipynb"))[1]
    found = verdicts(text)
    assert verdict(found, "fine-tuning", "feature extraction") is None
    assert verdict(found, "fine-tuning", "feature extraction, trained as long") is None
    assert text.count("97.5 % interval") == 2 and "one of 2 comparisons" in text


def test_lecture_4_stored_run_shows_what_its_text_concludes():
    """Section 6: rotations and zooms beat no augmentation, the flips cost accuracy. Section 7: the nine comparisons the
    text reads, and no other, on confirmation digits no run had measured, corrected as one family and counting those
    digits' noise: the digit base wins with one label per class, against training from scratch and against a random
    base; with the most labels the frozen digit base is behind training from scratch (the crossover) and trained
    whole is level with it, the standard recipe is ahead of the slides', feature extraction from the clothes base
    loses, and the frozen heads kept their last checkpoint more often than training from scratch (the markdown says
    so; this keeps a re-run from silently contradicting it)."""
    import re

    _, text, _, _ = stored(notebook("notebooks/04_*.ipynb"))
    found = verdicts(text)
    assert verdict(found, "rotate + zoom", "no augmentation") == "rotate + zoom"
    assert verdict(found, "with the flips", "without them") == "without them"
    claims = {}
    for m in re.finditer(r"^  (\d+) per class: (.+?) vs (.+?): (?:(no measurable difference)|(.+?) ahead in \d+ of \d+ draws)"
                         r".*(one of \d+ comparisons)", text, re.M):
        assert "over draws and 5,000 test examples" in m[0] and m[6] == "one of 9 comparisons", m[0]
        claims[int(m[1]), m[2], m[3]] = None if m[4] else m[5]
    assert len(claims) == 9, sorted(claims)
    digits, clothes, scratch = "feature extraction, digits 0-4", "feature extraction, Fashion-MNIST", "from scratch"
    random_base, slides, standard = "feature extraction, random base", "fine-tuning (slides), digits 0-4", "fine-tuning (standard), digits 0-4"
    assert claims[1, digits, scratch] == digits and claims[1, digits, random_base] == digits
    assert claims[1, "feature extraction, Fashion-MNIST, statistics of x", random_base] is None
    assert claims[500, digits, scratch] == scratch and claims[500, standard, scratch] is None  # the crossover
    assert claims[500, slides, digits] is None and claims[500, standard, slides] == standard
    assert claims[500, clothes, scratch] == scratch and claims[500, "fine-tuning (standard), Fashion-MNIST", scratch] is None
    last = re.search(r"^from scratch +(?:\d+ \(\d+ of \d+\) +){3}\d+ \((\d+) of 10\)$", text, re.M)
    frozen = [int(m[1]) for m in re.finditer(r"^feature extraction, .+? +(?:\d+ \(\d+ of \d+\) +){3}\d+ \((\d+) of 10\)$",
                                             text, re.M)]
    assert last and len(frozen) == 4 and min(frozen) > 5 and min(frozen) > int(last[1]), "the budget paragraph"


def test_lecture_3_stored_run_shows_what_its_text_concludes():
    """Section 3: the loop, decided repeat by repeat, five timings read together; section 4: the plain CNN collapses
    under shifts, the augmented ones do not, and the deeper network's control, trained without augmentation,
    collapses like the plain CNN (three verdicts read together, per block). The markdown reads the other verdicts
    either way (problem b, the workers); these are the ones it states."""
    import re

    _, text, _, _ = stored(notebook("notebooks/03_*.ipynb"))
    rows = {m[1].strip(): [float(v) for v in m[2].split()] for m in
            re.finditer(r"^(CNN|MLP|augmented CNN|deep CNN, augmented|deep CNN \(control\))\s+"
                         r"(\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4})$", text, re.M)}
    assert len(rows) == 5, f"seed 0's table of clean, -5 px, +5 px and worst accuracies: {sorted(rows)}"
    clean, worst = {k: v[0] for k, v in rows.items()}, {k: v[3] for k, v in rows.items()}
    assert worst["CNN"] < clean["CNN"] / 2 and worst["deep CNN (control)"] < clean["deep CNN (control)"] / 2, rows
    assert clean["deep CNN, augmented"] - worst["deep CNN, augmented"] < 0.05, rows
    found = verdicts(text)
    assert verdict(found, "cslib.fit", "slides' loop") == "cslib.fit"
    assert verdict(found, "augmented CNN", "CNN", "shifted by 5 px") == "augmented CNN"
    assert verdict(found, "deep CNN, augmented", "deep CNN (control)", "shifted by 5 px") == "deep CNN, augmented"
    assert text.count("one of 5 comparisons") == 5 and text.count("one of 3 comparisons") == 6


# --------------------------------------------------------------------------- progress bars, stored finished
# A tqdm.auto bar is a widget (an HBox of HTML, FloatProgress, HTML); its stored text/plain, what GitHub, nbviewer
# and an untrusted notebook show, is the text the bar had when first displayed ("0%| 0/160") unless
# scripts/run_notebooks.py rewrote it from the saved widget state. Lecture notebooks executed before that step
# are listed here until `python scripts/run_notebooks.py --only-finish-bars notebooks/*.ipynb` is applied to
# them (strict xfails: remove an entry once its notebook passes).
PENDING_BARS: set[str] = set()
WIDGET_VIEW, WIDGET_STATE = "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json"


def run_notebooks_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored_bars(nb: dict) -> list[tuple[int, str, float, float]]:
    """(cell, stored text/plain, value, max) of every output that is a tqdm.notebook bar in the widget state."""
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    bars = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            box = state.get(view["model_id"], {}) if view else {}
            children = [state.get(ref.removeprefix("IPY_MODEL_"), {}) for ref in box.get("state", {}).get("children", [])]
            if [c.get("model_name") for c in children] == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                text = out["data"].get("text/plain", "")
                progress = children[1]["state"]
                bars.append((i, "".join(text) if isinstance(text, list) else text, float(progress["value"]), float(progress["max"])))
    return bars


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]))
def test_finished_progress_bars_are_stored_finished(path, request):
    import json
    import re

    if path in PENDING_BARS:
        request.applymarker(pytest.mark.xfail(strict=True, reason="stored before run_notebooks.py finished the bars: "
                                                                  "run it with --only-finish-bars on this notebook"))
    nb = json.loads((ROOT / path).read_text(encoding="utf-8"))
    wrong = []
    for cell, text, value, high in stored_bars(nb):
        counts = re.search(r"\| *(\d+)/(\d+) \[", text)
        if value >= high and not (counts and int(counts.group(1)) == int(counts.group(2)) == int(high) and "100%|" in text):
            wrong.append(f"cell {cell}: {text!r} (the widget state says {value:g}/{high:g})")
    assert not wrong, f"{path}: progress bars stored short of their total: {wrong}"


def synthetic_notebook(bars: list[tuple[str, int, int, dict]]) -> dict:
    """A notebook with one code cell showing tqdm.notebook bars, as nbclient stores them: the text/plain of the first
    display and the widget state of the end, whose HTML parts tqdm.notebook builds (spaces as U+2007, HTML-escaped)."""
    import html as html_lib
    import re

    from tqdm.std import tqdm as std_tqdm

    state, outputs = {}, []
    for k, (desc, n, total, postfix) in enumerate(bars):
        post = ", ".join(f"{key}={v}" for key, v in postfix.items())
        msg = std_tqdm.format_meter(n, total, 63.0, prefix=desc, unit="batch", postfix=post or None,
                                    bar_format="{l_bar}<bar/>{r_bar}").replace(" ", "\u2007")
        left, right = map(html_lib.escape, re.split(r"\|?<bar/>\|?", msg, maxsplit=1))
        ids = [f"{k}box", f"{k}left", f"{k}bar", f"{k}right"]
        state[ids[0]] = {"model_name": "HBoxModel", "state": {"children": [f"IPY_MODEL_{i}" for i in ids[1:]]}}
        state[ids[1]] = {"model_name": "HTMLModel", "state": {"value": left}}
        state[ids[2]] = {"model_name": "FloatProgressModel", "state": {"value": float(n), "min": 0.0, "max": float(total),
                                                                      "bar_style": "success" if n == total else "danger"}}
        state[ids[3]] = {"model_name": "HTMLModel", "state": {"value": right}}
        first = std_tqdm.format_meter(0, total, 0.0, prefix=desc, unit="batch")
        outputs.append({"output_type": "display_data", "metadata": {},
                        "data": {WIDGET_VIEW: {"model_id": ids[0], "version_major": 2, "version_minor": 0}, "text/plain": [first]}})
    state["slider"] = {"model_name": "VBoxModel", "state": {"children": []}}  # another widget: left alone
    outputs.append({"output_type": "display_data", "metadata": {},
                    "data": {WIDGET_VIEW: {"model_id": "slider", "version_major": 2, "version_minor": 0}, "text/plain": ["VBox()"]}})
    outputs.append({"output_type": "stream", "name": "stdout", "text": ["done\n"]})
    cell = {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "outputs": outputs, "source": ["fit(...)"]}
    return {"cells": [{"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# x"]}, cell],
            "metadata": {"widgets": {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}},
            "nbformat": 4, "nbformat_minor": 5}


def test_finish_bars_rebuilds_the_final_text_from_the_widget_state():
    import copy

    from tqdm.std import tqdm as std_tqdm

    script = run_notebooks_script()
    postfix = {"loss": "0.0568", "train_acc": "1.0000", "test_acc": "0.9130"}
    nb = synthetic_notebook([("feature extraction epoch 10/10", 160, 160, postfix), ("fine-tuning epoch 3/10", 48, 160, {}),
                             ("a & b <c>", 7, 7, {})])
    before = copy.deepcopy(nb)
    assert [text for _, text, _, _ in stored_bars(nb)][0].startswith("feature extraction epoch 10/10:   0%|")
    changes = script.finish_bars(nb)
    assert len(changes) == 3 and changes[0].startswith("cell 1: 'feature extraction epoch 10/10:   0%|")
    texts = [text for _, text, _, _ in stored_bars(nb)]
    # what tqdm itself prints outside Jupyter for the same bar (a 10-character bar, the postfix, the elapsed time)
    assert texts[0] == std_tqdm.format_meter(160, 160, 63.0, prefix="feature extraction epoch 10/10", unit="batch",
                                             postfix="loss=0.0568, train_acc=1.0000, test_acc=0.9130")
    assert texts[0].startswith("feature extraction epoch 10/10: 100%|██████████| 160/160 [01:03<00:00,")
    assert texts[1] == std_tqdm.format_meter(48, 160, 63.0, prefix="fine-tuning epoch 3/10", unit="batch")  # an interrupted bar: 30%
    assert "30%|███       | 48/160" in texts[1]
    assert texts[2].startswith("a & b <c>: 100%|")  # HTML escapes undone
    assert script.finish_bars(nb) == []  # a second pass has nothing to do
    # nothing else changed: the other widget, the stream, the widget state, the markdown
    for cell_after, cell_before in zip(nb["cells"], before["cells"]):
        for out_after, out_before in zip(cell_after.get("outputs", []), cell_before.get("outputs", [])):
            if out_after.get("data", {}).get("text/plain") != out_before.get("data", {}).get("text/plain"):
                out_after["data"]["text/plain"] = out_before["data"]["text/plain"]
    assert nb == before
    assert script.finish_bars({"cells": [], "metadata": {}}) == []  # no widget state: nothing to do


def test_only_finish_bars_changes_only_the_bars_text_and_says_so(tmp_path):
    import json
    import subprocess
    import sys

    nb = synthetic_notebook([("training epoch 5/5", 1250, 1250, {"loss": "0.1"})])
    path = tmp_path / "executed.ipynb"
    layout = lambda d: json.dumps(d, sort_keys=True, indent=1, ensure_ascii=False) + "\n"  # nbformat's layout  # noqa: E731
    path.write_text(layout(nb), encoding="utf-8")
    untouched = tmp_path / "no_widgets.ipynb"
    untouched.write_text(layout({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    before = untouched.read_bytes()

    def run(*files):
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--only-finish-bars", *map(str, files)],
                              capture_output=True, text=True, timeout=120)

    done = run(path, untouched)
    assert done.returncode == 0, done.stderr
    assert "executed.ipynb: 1 progress bar(s) rewritten" in done.stdout and "1250/1250" in done.stdout
    assert "no_widgets.ipynb: no progress bar to rewrite" in done.stdout and untouched.read_bytes() == before
    after = json.loads(path.read_text(encoding="utf-8"))
    text = after["cells"][1]["outputs"][0]["data"]["text/plain"]
    assert isinstance(text, list) and text[0].startswith("training epoch 5/5: 100%|██████████| 1250/1250 [01:03<00:00,")
    after["cells"][1]["outputs"][0]["data"]["text/plain"] = nb["cells"][1]["outputs"][0]["data"]["text/plain"]
    assert layout(after) == layout(nb)  # not a byte else changed
    rewritten = path.read_bytes()
    again = run(path)
    assert "no progress bar to rewrite" in again.stdout and path.read_bytes() == rewritten
    missing = run(tmp_path / "missing.ipynb")
    assert missing.returncode != 0 and "no such notebook" in missing.stderr


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT) for p in (ROOT / "notebooks").glob("*.ipynb")), ids=str)
def test_stored_explorers_carry_their_picture(path):
    """An explorer's stored output shows a picture and one line where widgets do not render (an untrusted
    notebook in JupyterLab, GitHub, nbviewer), never the widget's repr ``VBox(children=...``."""
    nb = nbformat.read(ROOT / path, as_version=4)
    widgets = [(i, out.data) for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and "explorer(" in cell.source
               for out in cell.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    for i, data in widgets:
        assert "image/png" in data, f"{path}, cell {i}: an explorer stored without its picture (re-run the notebook)"
        assert not data.get("text/plain", "").startswith(("VBox(", "HBox(", "interactive(")), f"{path}, cell {i}: {data['text/plain'][:60]}"
    if "explorer(" in "".join(c.source for c in nb.cells if c.cell_type == "code"):
        assert widgets, f"{path} calls an explorer but stores no widget output"
