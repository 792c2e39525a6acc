"""Rules: list, create, edit (a new version), pause, archive, export/import, simulate."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from wxcrm.api.auth import current_staff, roles_required
from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.ledger.service import available_points
from wxcrm.rules import simulation
from wxcrm.rules import storage as rules
from wxcrm.rules.context import EVENTS
from wxcrm.rules.models import RULE_STATUSES

blp = Blueprint("api_rules", __name__, description="The rule engine: rules, versions, simulation")

EDITORS = ("marketer", "admin")


MAX_ID = 2**63 - 1


class RuleIn(Schema):
    """A rule as JSON. Its full shape is checked by the rule schema (wxcrm/rules/schema.py),
    whose messages name the failing path."""
    class Meta:
        unknown = INCLUDE  # every other key goes through to the rule schema, the judge

    name = fields.String(required=True, metadata={"example": "生日当月双倍积分"})
    event = fields.String(required=True, validate=validate.OneOf(EVENTS))
    priority = fields.Integer(strict=True, validate=validate.Range(min=-1_000_000, max=1_000_000))
    status = fields.String(validate=validate.OneOf(RULE_STATUSES))
    conditions = fields.Dict(metadata={"description": "all / any / not tree of {fact, op, value}"})
    actions = fields.List(fields.Dict(), required=True)
    validity = fields.Dict()
    scope = fields.Dict()
    limits = fields.Dict()
    stop = fields.Boolean()
    exclusive_group = fields.String(allow_none=True)


class RuleOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    status = fields.String()
    name = fields.String()
    event = fields.String()
    priority = fields.Integer()
    definition = fields.Dict(metadata={"description": "the whole rule as JSON"})


class RuleQuery(Schema):
    status = fields.String(validate=validate.OneOf(RULE_STATUSES))
    event = fields.String(validate=validate.OneOf(EVENTS))


class StatusIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(RULE_STATUSES))


class RuleSetIn(Schema):
    rules = fields.List(fields.Dict(), required=True)


class ImportOut(Schema):
    created = fields.Integer()
    updated = fields.Integer()


class SimulateIn(Schema):
    event = fields.String(load_default="purchase", validate=validate.OneOf(EVENTS))
    store_code = fields.String(required=True)
    member_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID),
                               metadata={"description": "a real member; or describe one in `member`"})
    member = fields.Dict(metadata={"description": "a described member: tier, birthday, gender, joined_on, ..."})
    items = fields.List(fields.Dict(), load_default=list)
    payment_method = fields.String(load_default="cash")
    points_to_use = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**9))
    topup_amount_fen = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**10))
    first_topup = fields.Boolean(load_default=False, metadata={"description": "a top-up: the member's first"})
    payment_methods = fields.List(fields.String(validate=validate.Length(min=1, max=24)), load_default=list,
                                  validate=validate.Length(max=8),
                                  metadata={"description": "a split payment's tenders (payment.methods)"})
    referred = fields.Dict(metadata={"description": "a referral event: the referred member (joined_on, "
                                                    "purchase_count before this purchase, first_purchase); "
                                                    "the items are their purchase"})
    paid_rule_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1)),
                                validate=validate.Length(max=1000), metadata={"description": "referral rules that already paid "
                                                                          "for this referred member"})
    at = fields.DateTime(metadata={"description": "the moment, merchant time; default now"})
    rules = fields.List(fields.Dict(), metadata={"description": "a draft rule set; default the live one"})


def out(rule) -> dict:
    data = rules.rule_json(rule)
    return {"id": rule.id, "version": rule.current_version, "status": rule.status, "name": rule.name,
            "event": rule.event, "priority": rule.priority, "definition": data}


@blp.route("/rules", methods=["GET"])
@roles_required(blp, *EDITORS)
@blp.arguments(RuleQuery, location="query")
@blp.response(200, RuleOut(many=True))
def list_rules(query):
    return [out(r) for r in rules.list_rules(db.session, **query)]


@blp.route("/rules", methods=["POST"])
@roles_required(blp, *EDITORS)
@blp.arguments(RuleIn)
@blp.response(201, RuleOut)
def create_rule(data):
    rule = rules.create_rule(db.session, data, staff_id=current_staff().id)
    db.session.commit()
    return out(rule)


@blp.route("/rules/<int:rule_id>", methods=["GET"])
@roles_required(blp, *EDITORS)
@blp.response(200, RuleOut)
def get_rule(rule_id):
    return out(rules.get_rule(db.session, rule_id))


@blp.route("/rules/<int:rule_id>", methods=["PUT"])
@roles_required(blp, *EDITORS)
@blp.arguments(RuleIn)
@blp.response(200, RuleOut)
def update_rule(data, rule_id):
    """Replace a rule's definition: a new version when anything changed."""
    rule = rules.update_rule(db.session, rule_id, data, staff_id=current_staff().id)
    db.session.commit()
    return out(rule)


@blp.route("/rules/<int:rule_id>", methods=["DELETE"])
@roles_required(blp, *EDITORS)
@blp.response(200, RuleOut)
def archive_rule(rule_id):
    """Archive: transactions keep naming the rule, so it is never deleted."""
    rule = rules.archive_rule(db.session, rule_id)
    db.session.commit()
    return out(rule)


@blp.route("/rules/<int:rule_id>/status", methods=["POST"])
@roles_required(blp, *EDITORS)
@blp.arguments(StatusIn)
@blp.response(200, RuleOut)
def set_status(data, rule_id):
    """Activate, pause, or return a rule to draft."""
    rule = rules.set_status(db.session, rule_id, data["status"])
    db.session.commit()
    return out(rule)


@blp.route("/rules/export", methods=["GET"])
@roles_required(blp, *EDITORS)
@blp.response(200, RuleSetIn)
def export_rules():
    return {"rules": rules.export_rules(db.session)}


@blp.route("/rules/import", methods=["POST"])
@roles_required(blp, "admin")
@blp.arguments(RuleSetIn)
@blp.response(200, ImportOut)
def import_rules(data):
    """Import a whole rule set; one invalid rule imports nothing."""
    result = rules.import_rules(db.session, data["rules"], staff_id=current_staff().id)
    db.session.commit()
    return result


@blp.route("/rules/simulate", methods=["POST"])
@roles_required(blp, *EDITORS)
@blp.arguments(SimulateIn)
@blp.response(200)
def simulate(data):
    """What a basket would earn under the live (or a draft) rule set, and for every rule
    whether it matched and why; writes nothing."""
    return simulation.simulate(db.session, data, settings=current_settings(),
                               points_balance_of=lambda member_id, day: available_points(db.session, member_id, day))
