"""Label Studio labeling configs: parsed safely, checked, and mapped onto a Stepwise project
kind. Anything we cannot map is refused with a message that names the tag.

What maps (see `annotation.importers.label_studio` for the results):

- preference: `<Pairwise toName="a,b">` over two `<Text>` objects (the candidates, left
  first); the first other `<Text value="$...">` is the prompt and a `<Paragraphs>` the
  context turns; `<Choices name="strength...">` with values −3..+3 gives the strength of the
  Pairwise with the same suffix (`strength` ↔ `comparison`, or the only Pairwise);
  `<Rating>` or numeric `<Choices>` on a candidate is a per-response principle rating
  (principle = the name without a trailing `_<toName>`); numeric `<Choices>` on the prompt a
  per-pair principle rating (−3..+3); one `<TextArea>` the justification.
- dialogue_coding: one `<Paragraphs>` (turns: `nameKey`/`textKey`, default author/text);
  `<ParagraphLabels>` and `perRegion` `<Choices>`/`<Rating>` code turns (field = the tag's
  name); one `<TextArea>` (not per region) the justification.

Layout tags (View, Header, Style, Collapse, Panel) and static `<Text>` are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from annotation.errors import ApplicationError

LAYOUT_TAGS = frozenset({"View", "Header", "Style", "Collapse", "Panel"})
OBJECT_TAGS = frozenset({"Text", "Paragraphs"})
CONTROL_TAGS = frozenset({"Pairwise", "Choices", "Rating", "TextArea", "ParagraphLabels"})
OPTION_TAGS = {"Choices": "Choice", "ParagraphLabels": "Label"}
MAX_CONFIG_BYTES = 1_000_000
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(slots=True)
class LsObject:
    name: str
    tag: str
    key: str  # the data key (`value="$key"`)
    name_key: str = "author"
    text_key: str = "text"


@dataclass(slots=True)
class LsControl:
    name: str
    tag: str
    to_names: list[str]
    per_region: bool = False
    values: list[str] = field(default_factory=list)
    max_rating: int = 5
    # What it becomes: "pairwise", "strength", "principle", "pair_principle",
    # "justification", "turn_label".
    role: str = ""
    principle: str = ""
    candidate: int | None = None
    pair: tuple[int, int] | None = None

    @property
    def result_type(self) -> str:
        return self.tag.lower()


@dataclass(slots=True)
class LsMapping:
    kind: str
    objects: dict[str, LsObject]
    controls: dict[str, LsControl]
    prompt: LsObject | None = None
    context: LsObject | None = None
    dialogue: LsObject | None = None
    candidates: list[LsObject] = field(default_factory=list)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, code="unsupported_config", field="label_config")


def _parse(xml: str | None) -> Element:
    if not isinstance(xml, str) or not xml.strip():
        raise ApplicationError(
            "the Label Studio labeling config (XML) is required: Settings → Labeling "
            "Interface → Code in Label Studio, or label_config.xml from a Stepwise export",
            code="required",
            field="label_config",
        )
    if len(xml.encode()) > MAX_CONFIG_BYTES:
        raise _refuse(f"is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _refuse(
            f"refused: DTDs and entities are not allowed ({type(exc).__name__})"
        ) from None
    except ParseError as exc:
        raise _refuse(f"is not well-formed XML: {exc}") from None


def _walk(root: Element) -> tuple[list[LsObject], list[LsControl]]:
    objects: list[LsObject] = []
    controls: list[LsControl] = []
    unknown: list[str] = []

    def visit(el: Element) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in LAYOUT_TAGS:
            if tag != "Style":
                for child in el:
                    visit(child)
            return
        name = el.get("name", "")
        if tag in OBJECT_TAGS:
            value = el.get("value", "")
            if value.startswith("$") and len(value) > 1:
                objects.append(
                    LsObject(name or value[1:], tag, value[1:],
                             el.get("nameKey", "author"), el.get("textKey", "text"))
                )  # fmt: skip
            elif tag == "Paragraphs":
                unknown.append(f'<Paragraphs name={name!r}> without value="$..."')
            return
        if tag in CONTROL_TAGS:
            if not name:
                unknown.append(f"<{tag}> without a name")
                return
            ctl = LsControl(
                name, tag, [t.strip() for t in el.get("toName", "").split(",") if t.strip()],
                el.get("perRegion", "").lower() == "true",
            )  # fmt: skip
            option = OPTION_TAGS.get(tag)
            for child in el:
                if child.tag == option:
                    ctl.values.append(child.get("value") or child.get("alias") or "")
                elif child.tag not in ("Header", "View"):
                    unknown.append(f"<{child.tag}> inside <{tag} name={name!r}>")
            if tag == "Rating":
                max_rating = el.get("maxRating", "5")
                if not _INT.match(max_rating) or not 1 <= int(max_rating) <= 100:
                    unknown.append(f"<Rating name={name!r}> with maxRating={max_rating!r}")
                else:
                    ctl.max_rating = int(max_rating)
            controls.append(ctl)
            return
        unknown.append(f"<{tag}>")

    visit(root)
    if unknown:
        raise _refuse(
            "cannot be mapped onto Stepwise: unsupported tag(s) "
            + ", ".join(dict.fromkeys(unknown))
            + f"; supported: {', '.join(sorted(OBJECT_TAGS | CONTROL_TAGS))} "
            "(and layout tags)"
        )
    return objects, controls


def _principle(ctl: LsControl, to: str) -> str:
    for sep in ("_", "-", "."):
        if ctl.name.endswith(sep + to) and len(ctl.name) > len(to) + 1:
            return ctl.name[: -len(to) - 1]
    return ctl.name


def _numeric(ctl: LsControl, lo: int | None = None, hi: int | None = None) -> bool:
    if not ctl.values or not all(_INT.match(v.strip()) for v in ctl.values):
        return False
    ints = [int(v) for v in ctl.values]
    return (lo is None or min(ints) >= lo) and (hi is None or max(ints) <= hi)


def _map_preference(mapping: LsMapping, pairwise: list[LsControl]) -> None:
    objs = mapping.objects
    order: list[str] = []
    for pw in pairwise:
        if len(pw.to_names) != 2 or any(objs.get(t, None) is None or objs[t].tag != "Text"
                                        for t in pw.to_names):  # fmt: skip
            raise _refuse(
                f"<Pairwise name={pw.name!r}> must compare two <Text> objects "
                f"(toName={','.join(pw.to_names)!r})"
            )
        order += [t for t in pw.to_names if t not in order]
    mapping.candidates = [objs[t] for t in order]
    index = {t: i for i, t in enumerate(order)}
    for pw in pairwise:
        pw.role, pw.pair = "pairwise", (index[pw.to_names[0]], index[pw.to_names[1]])
    rest = [o for o in objs.values() if o.name not in index]
    mapping.prompt = next((o for o in rest if o.tag == "Text"), None)
    mapping.context = next((o for o in rest if o.tag == "Paragraphs"), None)
    by_suffix = {pw.name.removeprefix("comparison"): pw for pw in pairwise}
    texts: list[str] = []
    for ctl in mapping.controls.values():
        if ctl.tag == "Pairwise":
            continue
        if ctl.per_region:
            raise _refuse(f"<{ctl.tag} name={ctl.name!r}> is perRegion; a preference "
                          "project has no regions")  # fmt: skip
        to = ctl.to_names[0] if ctl.to_names else ""
        if ctl.tag == "TextArea":
            ctl.role = "justification"
            texts.append(ctl.name)
        elif ctl.tag == "Rating" and to in index:
            ctl.role, ctl.principle, ctl.candidate = "principle", _principle(ctl, to), index[to]
        elif ctl.tag == "Choices" and ctl.name.startswith("strength") and _numeric(ctl, -3, 3):
            owner = by_suffix.get(ctl.name.removeprefix("strength"))
            owner = owner or (pairwise[0] if len(pairwise) == 1 else None)
            if owner is None:
                raise _refuse(f"<Choices name={ctl.name!r}>: no <Pairwise> it belongs to")
            ctl.role, ctl.pair = "strength", owner.pair
        elif ctl.tag == "Choices" and to in index and _numeric(ctl):
            ctl.role, ctl.principle, ctl.candidate = "principle", _principle(ctl, to), index[to]
        elif ctl.tag == "Choices" and to not in index and _numeric(ctl, -3, 3):
            ctl.role, ctl.principle = "pair_principle", ctl.name
        else:
            raise _refuse(
                f"<{ctl.tag} name={ctl.name!r} toName={to!r}> cannot be mapped onto a "
                "preference project: ratings and numeric choices on a response are "
                "principle ratings, numeric choices (−3..+3) on the prompt pair ratings, "
                "'strength' choices the strength, a TextArea the justification"
            )
    if len(texts) > 1:
        raise _refuse(f"one <TextArea> (the justification) is supported; found {texts}")


def _map_dialogue(mapping: LsMapping) -> None:
    paragraphs = [o for o in mapping.objects.values() if o.tag == "Paragraphs"]
    if len(paragraphs) != 1:
        raise _refuse(f"a dialogue-coding config needs one <Paragraphs>; found {len(paragraphs)}")
    mapping.dialogue = paragraphs[0]
    texts: list[str] = []
    for ctl in mapping.controls.values():
        if ctl.tag == "TextArea" and not ctl.per_region:
            ctl.role = "justification"
            texts.append(ctl.name)
        elif ctl.tag == "ParagraphLabels" or (ctl.per_region and ctl.tag in ("Choices", "Rating")):
            if ctl.to_names != [mapping.dialogue.name]:
                raise _refuse(f"<{ctl.tag} name={ctl.name!r}> must point at the dialogue "
                              f"<Paragraphs name={mapping.dialogue.name!r}>")  # fmt: skip
            ctl.role = "turn_label"
        else:
            raise _refuse(
                f"<{ctl.tag} name={ctl.name!r}> cannot be mapped onto a dialogue-coding "
                "project: turns are coded with <ParagraphLabels> or perRegion <Choices>/"
                "<Rating>; one <TextArea> (not per region) is the justification"
            )
    if len(texts) > 1:
        raise _refuse(f"one <TextArea> (the justification) is supported; found {texts}")


def label_config_map(xml: str | None, *, project_kind: str | None = None) -> LsMapping:
    """Parse a labeling config and map it; raises ApplicationError(field='label_config')."""
    objects, controls = _walk(_parse(xml))
    if not controls:
        raise _refuse("has no control tags: nothing to import as labels")
    names = [o.name for o in objects] + [c.name for c in controls]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _refuse(f"tag names must be unique; repeated: {', '.join(dup)}")
    mapping = LsMapping("", {o.name: o for o in objects}, {c.name: c for c in controls})
    pairwise = [c for c in controls if c.tag == "Pairwise"]
    if pairwise:
        mapping.kind = "preference"
        _map_preference(mapping, pairwise)
    elif any(o.tag == "Paragraphs" for o in objects):
        mapping.kind = "dialogue_coding"
        _map_dialogue(mapping)
    else:
        raise _refuse(
            "cannot be mapped: a preference project needs <Pairwise>, a dialogue-coding "
            "project <Paragraphs> with <ParagraphLabels> or perRegion controls"
        )
    if project_kind and project_kind != mapping.kind:
        raise _refuse(f"describes {mapping.kind} data; this is a {project_kind} project")
    return mapping
