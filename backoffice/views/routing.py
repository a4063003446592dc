"""Routing rules in the ops screens: rule set versions, a draft's defaults and rules, CSV,
publishing (docs/routing.md, "Rules and rule sets").

Anyone with `routing.view_ruleset` reads every version; drafts are changed with
`routing.change_ruleset`, made with `routing.add_ruleset` and published with
`routing.publish_ruleset` (the operations manager holds all four). A published or
retired version is history: a change to it is refused with a 409, and the page offers
a new draft from it instead.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.postgres.fields import ArrayField
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backoffice.views.common import page, report_domain_error, staff_view
from core.errors import Conflict, DomainError, ValidationFailed
from routing.models import Rule, RuleSet
from routing.selectors import ruleset_in_force, rulesets_page
from routing.services.rules_csv import rules_csv_export, rules_csv_import
from routing.services.rulesets import (
    DEFAULT_FIELDS,
    RULE_FIELDS,
    known_codes,
    rule_delete,
    rule_field_problems,
    rule_move,
    rule_save,
    ruleset_draft_create,
    ruleset_problems,
    ruleset_publish,
    ruleset_update,
)
from routing.wording import rule_actions, rule_conditions

VIEW = "routing.view_ruleset"
CREATE = "routing.add_ruleset"
EDIT = "routing.change_ruleset"
PUBLISH = "routing.publish_ruleset"
MAX_CSV_BYTES = 2 * 1024 * 1024


class CommaListField(forms.CharField):
    """A list typed as comma-separated values; blanks between commas are ignored."""

    def __init__(self, *, item_max_length: int | None = None, **kwargs):
        self.item_max_length = item_max_length
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def clean(self, value):
        text = super().clean(value)
        items = [item.strip() for item in (text or "").split(",") if item.strip()]
        too_long = [i for i in items if self.item_max_length and len(i) > self.item_max_length]
        if too_long:
            raise forms.ValidationError(
                f"At most {self.item_max_length} characters each: {', '.join(too_long)[:200]}"
            )
        return items


def _formfield(db_field, **kwargs):
    if isinstance(db_field, ArrayField):
        return CommaListField(
            item_max_length=db_field.base_field.max_length,
            label=kwargs.get("label", db_field.verbose_name.capitalize()),
            help_text=kwargs.get("help_text", ""),
        )
    return db_field.formfield(**kwargs)


RULE_HELP = {
    "name": "What the rule is for, as people will read it in the list and in an order's "
    "routing explanation.",
    "channels": "Channel codes, comma-separated (webshop, marketplace). Empty: any channel.",
    "countries": "Destination countries, ISO codes, comma-separated (DE, AT). Empty: any.",
    "postcode_prefixes": "Destination postcodes starting with any of these (10, 12). "
    "Spaces and case are ignored. Empty: any postcode.",
    "service_levels": "Service level codes the order asks for (express). Empty: any, or none.",
    "skus": "The order has at least one of these SKUs. Empty: any SKUs.",
    "tags": "The order has a product with at least one of these product tags (fragile, "
    "hazmat). Empty: any.",
    "min_order_value": "The order's total is at least this (in the order's currency).",
    "max_order_value": "The order's total is at most this.",
    "min_weight_grams": "The order weighs at least this many grams.",
    "max_weight_grams": "The order weighs at most this many grams.",
    "customs_required": "Whether shipping from a site to the destination crosses a customs "
    "border. With a site action and no sites or providers listed, the action applies to "
    "exactly those sites.",
    "action": "What to do with the candidate sites: keep only, prefer, or exclude the sites "
    "and providers listed below.",
    "sites": "Site (warehouse) codes the action is about, comma-separated (own-berlin).",
    "providers": "Provider codes the action is about: every site that ships with them.",
    "split_policy": "How the order may be split over sites. Empty: the rule set's default.",
    "max_shipments": "N, for 'at most N shipments'.",
    "objective": "How to choose among the allowed plans. Empty: the rule set's default.",
    "max_delivery_days": "For 'cheapest that meets the promise': delivered within this many "
    "days of the order. Empty: the rule set's default.",
}


CUSTOMS_CHOICES = [
    ("", "Either: not a condition"),
    ("true", "Only sites where shipping crosses a customs border"),
    ("false", "Only sites where shipping crosses no customs border"),
]


class RuleForm(forms.ModelForm):
    customs_required = forms.TypedChoiceField(
        choices=CUSTOMS_CHOICES,
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
        label="Customs border",
        help_text=RULE_HELP["customs_required"],
    )

    class Meta:
        model = Rule
        fields = RULE_FIELDS
        help_texts = RULE_HELP
        labels = {
            "skus": "SKUs",
            "min_weight_grams": "Min weight (g)",
            "max_weight_grams": "Max weight (g)",
            "action": "Site action",
        }
        formfield_callback = _formfield

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("split_policy", "objective"):
            choices = list(self.fields[name].choices)
            self.fields[name].choices = [("", "The rule set's default"), *choices[1:]]
        value = self.instance.customs_required
        self.initial["customs_required"] = "" if value is None else str(value).lower()

    def clean_countries(self):
        return [c.upper() for c in self.cleaned_data["countries"]]

    def clean(self):
        # The service checks again when saving; here each problem lands at its field, and
        # the model's constraint on that field is then not repeated in its own words.
        data = super().clean()
        if not self.errors:
            rule = Rule(**{f: data.get(f) for f in RULE_FIELDS})
            for field, message in rule_field_problems(rule, known_codes()):
                self.add_error(field, message)
        return data


def _model_formfield(model, name: str) -> forms.Field:
    field = model._meta.get_field(name).formfield()
    if field is None:
        raise TypeError(f"{model.__name__}.{name} has no form field")
    return field


class RuleSetForm(forms.Form):
    name = _model_formfield(RuleSet, "name")
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    default_split_policy = _model_formfield(RuleSet, "default_split_policy")
    default_max_shipments = _model_formfield(RuleSet, "default_max_shipments")
    default_objective = _model_formfield(RuleSet, "default_objective")
    default_max_delivery_days = _model_formfield(RuleSet, "default_max_delivery_days")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        helps = {
            "name": "What this version is, in a few words.",
            "default_split_policy": "For orders no rule matches, and rules that leave it empty.",
            "default_max_shipments": "N, when the default split is 'at most N shipments'.",
            "default_objective": "For orders no rule matches, and rules that leave it empty.",
        }
        for name, text in helps.items():
            self.fields[name].help_text = text


class NewDraftForm(forms.Form):
    based_on = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    name = forms.CharField(required=False, max_length=100)


class PublishForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        label="I have checked this version: it routes every new order from now on.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (UTF-8) with a header row: position, then the rule's fields; lists "
        "joined with |. It replaces every rule of this draft, or nothing on any error."
    )


def _rule_set(rule_set_id: int) -> RuleSet:
    return get_object_or_404(RuleSet.objects.select_related("based_on"), pk=rule_set_id)


def _detail_url(rule_set: RuleSet) -> str:
    return reverse("backoffice:routing_rule_set", args=[rule_set.pk])


def _form_errors(form: forms.BaseForm, exc: ValidationFailed) -> None:
    for error in exc.errors:
        field = error["field"] if error["field"] in form.fields else None
        form.add_error(field, error["message"])
    if not exc.errors:
        form.add_error(None, exc.detail)


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def rulesets(request):
    if request.method == "POST":
        return _draft_new(request, NewDraftForm(request.POST))
    before = request.GET.get("before", "")
    versions, next_before = rulesets_page(
        before_version=int(before)
        if before.isascii() and before.isdigit() and len(before) < 10
        else None
    )
    return page(
        request,
        "backoffice/routing/rulesets.html",
        {
            "title": "Routing rules",
            "versions": versions,
            "next_before": next_before,
            "in_force": ruleset_in_force(),
            "can_create": request.user.has_perm(CREATE),
        },
    )


def _draft_new(request, form: NewDraftForm) -> HttpResponse:
    if not request.user.has_perm(CREATE):
        messages.error(request, "You may read rule sets but not make drafts.")
        return HttpResponseRedirect(reverse("backoffice:routing_rulesets"))
    if not form.is_valid():
        messages.error(request, "That is not a rule set to start from.")
        return HttpResponseRedirect(reverse("backoffice:routing_rulesets"))
    based_on = None
    if form.cleaned_data["based_on"]:
        based_on = RuleSet.objects.filter(pk=form.cleaned_data["based_on"]).first()
        if based_on is None:
            messages.error(request, "That rule set does not exist.")
            return HttpResponseRedirect(reverse("backoffice:routing_rulesets"))
    name = form.cleaned_data["name"] or (
        f"Draft from v{based_on.version}" if based_on else "New rule set"
    )
    try:
        draft = ruleset_draft_create(
            name=name, actor=request.user.get_username(), based_on=based_on
        )
    except DomainError as exc:
        report_domain_error(request, exc)
        return HttpResponseRedirect(reverse("backoffice:routing_rulesets"))
    source = f" from v{based_on.version}" if based_on else ""
    messages.success(request, f"Draft v{draft.version} made{source}.")
    return HttpResponseRedirect(_detail_url(draft))


def _detail(request, rule_set: RuleSet, *, status: int = 200, **extra) -> HttpResponse:
    rules = list(rule_set.rules.order_by("position"))
    is_draft = rule_set.status == RuleSet.Status.DRAFT
    can_edit = is_draft and request.user.has_perm(EDIT)
    defaults = {f: getattr(rule_set, f) for f in DEFAULT_FIELDS}
    context = {
        "title": f"Routing rules v{rule_set.version} · {rule_set.name}",
        "rule_set": rule_set,
        "is_draft": is_draft,
        "rows": [
            {
                "rule": rule,
                "conditions": rule_conditions(rule),
                "actions": rule_actions(rule),
                "first": index == 0,
                "last": index == len(rules) - 1,
            }
            for index, rule in enumerate(rules)
        ],
        "problems": ruleset_problems(rule_set) if is_draft else [],
        "can_edit": can_edit,
        "can_create": request.user.has_perm(CREATE),
        "can_publish": is_draft and request.user.has_perm(PUBLISH),
        "defaults_form": RuleSetForm(
            initial={"name": rule_set.name, "note": rule_set.note, **defaults}
        ),
        "import_form": ImportForm(),
        "publish_form": PublishForm(),
    }
    context.update(extra)
    return page(request, "backoffice/routing/ruleset.html", context, status=status)


def _refused(request, rule_set: RuleSet, exc: DomainError) -> HttpResponse:
    report_domain_error(request, exc)
    return _detail(request, rule_set, status=exc.status)


def _not_draft(rule_set: RuleSet) -> Conflict:
    return Conflict(
        f"Rule set v{rule_set.version} is {rule_set.status}; only a draft can be changed. "
        "Make a new draft from it instead.",
        code="ruleset_not_draft",
    )


def _guard_edit(request, rule_set: RuleSet) -> HttpResponse | None:
    """The refusal for a change the person or the version does not allow, else None."""
    if not request.user.has_perm(EDIT):
        messages.error(request, "You may read rule sets but not change them.")
        return HttpResponseRedirect(_detail_url(rule_set))
    if rule_set.status != RuleSet.Status.DRAFT:
        return _refused(request, rule_set, _not_draft(rule_set))
    return None


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def ruleset(request, ruleset_id: int):
    rule_set = _rule_set(ruleset_id)
    if request.method == "GET":
        return _detail(request, rule_set)
    refused = _guard_edit(request, rule_set)
    if refused:
        return refused
    form = RuleSetForm(request.POST)
    if form.is_valid():
        try:
            ruleset_update(rule_set_id=rule_set.pk, **form.cleaned_data)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        except DomainError as exc:
            return _refused(request, rule_set, exc)
        else:
            messages.success(request, "The defaults are saved.")
            return HttpResponseRedirect(_detail_url(rule_set))
    return _detail(request, rule_set, status=422, defaults_form=form)


def _rule_page(request, rule_set: RuleSet, form: RuleForm, rule: Rule | None, status=200):
    is_draft = rule_set.status == RuleSet.Status.DRAFT
    if not (is_draft and request.user.has_perm(EDIT)):
        for field in form.fields.values():
            field.disabled = True
    title = f"Rule #{rule.position} {rule.name}" if rule else "New rule"
    return page(
        request,
        "backoffice/routing/rule_form.html",
        {
            "title": f"{title} · v{rule_set.version}",
            "rule_set": rule_set,
            "rule": rule,
            "form": form,
            "condition_fields": [form[f] for f in RULE_FIELDS[1 : RULE_FIELDS.index("action")]],
            "action_fields": [form[f] for f in RULE_FIELDS[RULE_FIELDS.index("action") :]],
            "editable": is_draft and request.user.has_perm(EDIT),
        },
        status=status,
    )


def _rule_post(request, rule_set: RuleSet, rule: Rule | None, form: RuleForm) -> HttpResponse:
    refused = _guard_edit(request, rule_set)
    if refused:
        return refused
    if form.is_valid():
        try:
            saved = rule_save(rule_set_id=rule_set.pk, rule=form.save(commit=False))
        except ValidationFailed as exc:
            _form_errors(form, exc)
        except DomainError as exc:
            return _refused(request, rule_set, exc)
        else:
            messages.success(request, f"Rule #{saved.position} {saved.name} is saved.")
            return HttpResponseRedirect(_detail_url(rule_set))
    return _rule_page(request, rule_set, form, rule, status=422)


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def rule_new(request, ruleset_id: int):
    rule_set = _rule_set(ruleset_id)
    if request.method == "POST":
        form = RuleForm(request.POST, instance=Rule(rule_set=rule_set, position=0))
        return _rule_post(request, rule_set, None, form)
    return _rule_page(request, rule_set, RuleForm(), None)


def _rule(rule_set: RuleSet, rule_id: int) -> Rule:
    return get_object_or_404(Rule, pk=rule_id, rule_set=rule_set)


@require_http_methods(["GET", "POST"])
@staff_view(VIEW)
def rule_edit(request, ruleset_id: int, rule_id: int):
    rule_set = _rule_set(ruleset_id)
    rule = _rule(rule_set, rule_id)
    if request.method == "POST":
        return _rule_post(request, rule_set, rule, RuleForm(request.POST, instance=rule))
    return _rule_page(request, rule_set, RuleForm(instance=rule), rule)


@require_POST
@staff_view(VIEW)
def rule_remove(request, ruleset_id: int, rule_id: int):
    rule_set = _rule_set(ruleset_id)
    rule = _rule(rule_set, rule_id)
    refused = _guard_edit(request, rule_set)
    if refused:
        return refused
    try:
        rule_delete(rule_set_id=rule_set.pk, rule_id=rule.pk)
    except DomainError as exc:
        return _refused(request, rule_set, exc)
    messages.success(request, f"Rule #{rule.position} {rule.name} is deleted.")
    return HttpResponseRedirect(_detail_url(rule_set))


@require_POST
@staff_view(VIEW)
def rule_reorder(request, ruleset_id: int, rule_id: int):
    rule_set = _rule_set(ruleset_id)
    rule = _rule(rule_set, rule_id)
    refused = _guard_edit(request, rule_set)
    if refused:
        return refused
    direction = request.POST.get("direction", "")
    if direction not in ("up", "down"):
        messages.error(request, "Move a rule up or down.")
        return HttpResponseRedirect(_detail_url(rule_set))
    try:
        rule_move(rule_set_id=rule_set.pk, rule_id=rule.pk, up=direction == "up")
    except DomainError as exc:
        return _refused(request, rule_set, exc)
    return HttpResponseRedirect(_detail_url(rule_set) + f"#rule-{rule.pk}")


@require_POST
@staff_view(VIEW)
def ruleset_publish_view(request, ruleset_id: int):
    rule_set = _rule_set(ruleset_id)
    if not request.user.has_perm(PUBLISH):
        messages.error(request, "You may not publish rule sets.")
        return HttpResponseRedirect(_detail_url(rule_set))
    if rule_set.status != RuleSet.Status.DRAFT:
        return _refused(request, rule_set, _not_draft(rule_set))
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm that this version should route orders.")
        return _detail(request, rule_set, status=422, publish_form=form)
    try:
        published = ruleset_publish(rule_set_id=rule_set.pk, actor=request.user.get_username())
    except DomainError as exc:
        return _refused(request, rule_set, exc)
    messages.success(
        request, f"v{published.version} is published: new orders are routed by it from now on."
    )
    return HttpResponseRedirect(_detail_url(published))


@require_GET
@staff_view(VIEW)
def rules_csv(request, ruleset_id: int):
    rule_set = _rule_set(ruleset_id)
    response = HttpResponse(
        rules_csv_export(rule_set=rule_set), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="routing-rules-v{rule_set.version}.csv"'
    )
    return response


@require_POST
@staff_view(VIEW)
def rules_import(request, ruleset_id: int):
    rule_set = _rule_set(ruleset_id)
    refused = _guard_edit(request, rule_set)
    if refused:
        return refused
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail(request, rule_set, status=422, import_form=form)
    upload = form.cleaned_data["file"]
    if upload.size > MAX_CSV_BYTES:
        form.add_error("file", f"At most {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        return _detail(request, rule_set, status=422, import_form=form)
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        form.add_error("file", "The file is not UTF-8 text.")
        return _detail(request, rule_set, status=422, import_form=form)
    try:
        count = rules_csv_import(rule_set_id=rule_set.pk, text=text)
    except ValidationFailed as exc:
        messages.error(request, exc.detail)
        return _detail(request, rule_set, status=422, import_form=form, import_errors=exc.errors)
    except DomainError as exc:
        return _refused(request, rule_set, exc)
    plural = "" if count == 1 else "s"
    messages.success(request, f"Imported {count} rule{plural} into v{rule_set.version}.")
    return HttpResponseRedirect(_detail_url(rule_set))
