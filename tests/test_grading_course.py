"""A question set from the lecture, CS231n, deeplearning.ai and Dive into Deep Learning, with their published
answers (examples/homework/course/*.yaml): each right answer is accepted in the notations
students write, and each typical mistake is rejected, with the reason or the mistake named.
The right values themselves are the engine's, checked against torch elsewhere; here each is
also recomputed from the published arithmetic."""
from __future__ import annotations

import pytest

from archcalc.grading.key import load_key
from archcalc.grading.mark import Marker
from archcalc.grading.submission import Submission, Submitted
from conftest import REPO

COURSE = REPO / "examples" / "homework" / "course"

# key file → question → (right answers as students write them, [(wrong answer, words the feedback must hold)])
CASES = {
    "lecture.yaml": {
        "q1": (["55 × 55 × 96", "55x55x96", "55 X 55 X 96", "55*55*96", "(55, 55, 96)", "55 by 55 by 96",
                [55, 55, 96], "[55, 55, 96]"],
               [([96, 55, 55], "another order"), ("54x54x96", "224"), ("55x55", ""), ("55", "")]),
        "q2": ([(11 * 11 * 3 + 1) * 96, "34,944", "34 944", "34\u202f944", "34_944", "364*96", "(11*11*3 + 1)*96",
                "34944.0", "3.4944e4"],
               [("34,848", "bias"), ("35K", ""), ("~35K", ""), ("34.9K", ""), ("34,94", "")]),
        "q3": (["35K", "35 K", "~35K", "35k", "about 35K", "34944", "35,000", "≈ 35 thousand"],
               [("34K", "tolerance"), ("36K", "tolerance"), ("3.5K", "")]),
        "q4": ([55 * 55 * 96, "290,400", "290400", "55*55*96", "0.2904 million", "290.4K"],
               [("253,440", ""), ("29O,400", "a zero"), ("0.3M", "")]),
        "q5": ([(5 * 5 * 48 + 1) * 256, "307K", "307 K", "5*5*48*256", "0.307M", "307,456"],
               [("614,656", "full input depth"), ("614K", "")]),
        "q6": (["27 × 27 × 256", "27x27x256"], [([256, 27, 27], "another order"), ("13x13x256", "")]),
        "q7": (["60M", "60 million", "61M", "60,965,224", "6.1e7", "~60M"], [("58M", "tolerance"), ("57M", "")]),
        "q8": ([13 * 13 * 384 * 3 * 3 * 256, "149,520,384", "13*13*384*3*3*256", "1.49520384e8"],
               [("299,040,768", "FLOPs")]),
    },
    "cs231n.yaml": {
        "q1": (["32x32x10", "32 × 32 × 10", [32, 32, 10]], [([10, 32, 32], "another order"), ("28x28x10", "")]),
        "q2": ([(5 * 5 * 3 + 1) * 10, "760", "76*10", "(5*5*3+1)*10"], [("750", "bias"), ("76", ""), ("7.6e2x", "")]),
        "q3": ([5 * 5 * 3 * 10, "750"], [("760", "")]),
    },
    "cs231n_invalid.yaml": {
        "q1": (["invalid", "doesn't fit", "does not fit", "Invalid", "not an integer"],
               [("4x4x8", "torch floors"), ("4.5", "")]),
        "q2": (["invalid", "doesn't fit"], [("4", "torch floors"), ("4.5", "")]),
    },
    "dlai_fc.yaml": {"q1": ([300 * 300 * 3 * 100 + 100, "27,000,100", "27000100", "300*300*3*100 + 100", "2.70001e7"],
                            [("27,000,000", "bias"), ("27M", ""), ("9,000,100", "")])},
    "dlai_conv.yaml": {"q1": ([(5 * 5 * 3 + 1) * 100, "7,600", "7600", "(5*5*3+1)*100", "7.6K"],
                              [("7,500", "bias"), ("2,600", "depth"), ("7.6", "")])},
    "dlai_stride.yaml": {"q1": (["29x29x32", "29 × 29 × 32", [29, 29, 32]],
                                [("57x57x32", "stride"), ([32, 29, 29], "another order"), ("28x28x32", "")])},
    "dlai_pad.yaml": {"q1": (["19x19x8", "19 x 19 x 8"], [("17x17x8", ""), ("8x19x19", "another order")])},
    "dlai_pool.yaml": {"q1": (["16x16x16", "16 × 16 × 16"], [("31x31x16", "stride"), ("15x15x16", "")])},
    "pooling.yaml": {"q1": ([[[8, 9], [5, 7]], [[[8, 9], [5, 7]]], "[[8, 9], [5, 7]]", [[8.0, 9.0], [5.0, 7.0]]],
                            [([[8, 9], [7, 5]], "differ"), ([8, 9, 5, 7], "numbers where"), ("8 9 5 7", "unreadable"),
                             ([[6, 9], [5, 7]], "differ")]),
                     "q2": (["[1, 2, 2]", [1, 2, 2]], [([2, 2], "")])},
    "pooling_avg.yaml": {"q1": ([[[13, 8], [79, 19.5]], "[[13, 8], [79, 19.5]]"], [([[13, 8], [79, 20]], "differ")]),
                         "q2": ([[[13, 8], [79, 20]], [[13, 8], [79, 19.5]]], [([[13, 8], [79, 21]], "differ")])},
    "d2l.yaml": {
        "q1": ([(8 - 3 + 0) // 3 + 1, "2"], [("3", ""), ("2.67", "")]),
        "q2": ([(8 - 5 + 2) // 4 + 1, "2", "2.0"], [("1", "")]),
        "q3": ([3 * 5 + 1, "16"], [("15", "bias")]),
    },
}


@pytest.fixture(scope="module")
def markers():
    return {name: Marker(load_key(COURSE / name)) for name in CASES}


def _graded(marker: Marker, qid: str, raw):
    report = marker.grade(Submission("s.yaml", "s", {qid: Submitted(raw, None)}))
    return next(r for r in report.results if r.key == qid)


@pytest.mark.parametrize("name, qid, raw", [(n, q, raw) for n, qs in CASES.items() for q, (good, _) in qs.items()
                                            for raw in good])
def test_each_right_answer_is_accepted_as_students_write_it(markers, name, qid, raw):
    graded = _graded(markers[name], qid, raw)
    assert graded.ok and graded.points == graded.max_points, (graded.student, graded.note)


@pytest.mark.parametrize("name, qid, raw, words", [(n, q, raw, words) for n, qs in CASES.items()
                                                   for q, (_, bad) in qs.items() for raw, words in bad])
def test_each_typical_mistake_is_rejected_and_named(markers, name, qid, raw, words):
    graded = _graded(markers[name], qid, raw)
    assert not graded.ok and graded.points == 0
    said = " ".join([graded.note or "", *(d.text for d in graded.diagnoses)])
    assert words in said, said


def test_every_question_of_every_course_key_is_covered(markers):
    for name, marker in markers.items():
        assert sorted(q.id for q in marker.key.questions) == sorted(CASES[name]), name
