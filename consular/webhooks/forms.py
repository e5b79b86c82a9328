"""The admin's webhook subscription form. Labels are lazy so they render in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectChoice, SelectMultipleField, StringField
from wtforms import widgets as wtf_widgets
from wtforms.validators import DataRequired, Length

from consular.validation import CheckedForm
from consular.webhooks.events import EVENTS
from consular.webhooks.receivers import MAX_URL


class CheckboxListField(SelectMultipleField):
    widget = wtf_widgets.ListWidget(prefix_label=False)
    option_widget = wtf_widgets.CheckboxInput()


class SubscriptionForm(CheckedForm):
    url = StringField(_l("Receiver URL"), validators=[DataRequired(), Length(max=MAX_URL)],
                      description=_l("Where the events are posted, e.g. https://example.org/hooks. "
                                     "Redirects are not followed; private addresses are refused."),
                      render_kw={"maxlength": MAX_URL, "autocomplete": "off", "inputmode": "url"})
    description = StringField(_l("Description"), validators=[Length(max=200)],
                              render_kw={"maxlength": 200})
    events = CheckboxListField(_l("Events"),
                               choices=[SelectChoice(name, label) for name, label in EVENTS.items()],
                               validators=[DataRequired(message=_l("Choose at least one event."))])
    active = BooleanField(_l("Active (events are sent)"), default=True)
