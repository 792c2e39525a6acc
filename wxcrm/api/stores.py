from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from wxcrm.api.auth import roles_required
from wxcrm.api.schemas import StoreIn, StoreOut
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import Store

blp = Blueprint("api_stores", __name__, description="Stores (admin)")


@blp.route("/stores", methods=["POST"])
@roles_required(blp, "admin")
@blp.arguments(StoreIn)
@blp.response(201, StoreOut)
def create_store(data):
    store = members.create_store(db.session, **data)
    db.session.commit()
    return store


@blp.route("/stores", methods=["GET"])
@roles_required(blp, "admin")
@blp.response(200, StoreOut(many=True))
def list_stores():
    return list(db.session.scalars(select(Store).order_by(Store.code)))
