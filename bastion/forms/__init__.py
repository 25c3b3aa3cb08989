"""Forms battery: HTML forms bound to requests, validated at once, shown again with errors.

Declare a ``Form`` with fields (or generate one from a model with ``model_form``), make it
with ``await MyForm.bind(request)``, render it through ``forms/macros.html``
(``install_forms(templates)``). See docs/forms.md.
"""

from bastion.forms.choices import (
    ChoiceField,
    FormContext,
    ModelChoiceField,
    ModelMultipleChoiceField,
    MultipleChoiceField,
)
from bastion.forms.fields import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    Field,
    FileField,
    FloatField,
    HiddenField,
    IntegerField,
    Invalid,
    JSONField,
    PasswordField,
    StringField,
    TextField,
    TimeField,
    URLField,
    UUIDField,
)
from bastion.forms.form import BoundField, Form
from bastion.forms.jinja import STYLESHEET, install_forms
from bastion.forms.models import ModelForm, model_form

__all__ = [
    "STYLESHEET",
    "BooleanField",
    "BoundField",
    "ChoiceField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "EmailField",
    "Field",
    "FileField",
    "FloatField",
    "Form",
    "FormContext",
    "HiddenField",
    "IntegerField",
    "Invalid",
    "JSONField",
    "ModelChoiceField",
    "ModelForm",
    "ModelMultipleChoiceField",
    "MultipleChoiceField",
    "PasswordField",
    "StringField",
    "TextField",
    "TimeField",
    "URLField",
    "UUIDField",
    "install_forms",
    "model_form",
]
