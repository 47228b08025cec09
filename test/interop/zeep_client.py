#!/usr/bin/env python3
"""Interop check: Python zeep, the way a Services88 integration uses it, against our endpoint.

Usage: zeep_client.py ENDPOINT TICKET WSDL RECEIVER_URL (strict|lax)

WSDL is a URL or a file path (NetServer's reference WSDL, or ours from ?wsdl). "lax" builds
zeep with strict=False, which NetServer 12's trailing Webhook fields need with the older
reference WSDL. Prints a JSON summary on stdout; exits 1 on any mismatch, 2 on bad usage.
The service must be fresh (no webhooks), since the GetAllWebhooks checks compare exact sets.
"""
import datetime
import json
import sys
import traceback

from lxml import etree
from zeep import Client, Settings, xsd
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin

TNS = "http://www.superoffice.net/ws/crm/NetServer/Services88"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

checks = []


def check(name, ok, detail=None):
    checks.append({"check": name, "ok": bool(ok), **({"detail": detail} if detail is not None else {})})
    return ok


def main(endpoint, ticket, wsdl, receiver, strict):
    history = HistoryPlugin()
    client = Client(wsdl, settings=Settings(strict=strict), plugins=[history])
    service = client.create_service("{%s}BasicHttpBinding_Webhook" % TNS, endpoint)
    credentials = client.get_element("{%s}Credentials" % TNS)
    auth = [credentials(Ticket=ticket)]

    def last_body_response(op):
        """The raw <Response> element of the last reply (zeep maps both nil and '' to None)."""
        envelope = history.last_received["envelope"]
        return envelope.find("{%s}Body/{%s}%sResponse/{%s}Response" % (SOAP_ENV, TNS, op, TNS))

    def call(op, **kwargs):
        result = getattr(service, op)(_soapheaders=auth, **kwargs)
        # The operations declare output headers, so zeep returns {body, header}.
        check(f"{op}: Succeeded header is true", result.header.Succeeded is True, repr(result.header.Succeeded))
        return result.body

    # CreateDefaultWebhook: an unsaved webhook with NetServer's defaults.
    default = call("CreateDefaultWebhook").Response
    check("CreateDefaultWebhook: WebhookId 0", default.WebhookId == 0, default.WebhookId)
    check("CreateDefaultWebhook: Type webhook", default.Type == "webhook", default.Type)
    check("CreateDefaultWebhook: State Active", default.State == "Active", default.State)
    events = list(default.Events.string) if default.Events else None
    check("CreateDefaultWebhook: Events", events == ["contact.created", "contact.deleted"], events)

    # SaveWebhook with typed Properties (anyType values carry xsi:type on the wire).
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    sent_props = {"source": "zeep", "priority": 42, "urgent": True, "since": when}
    xsd_types = {str: xsd.String(), int: xsd.Int(), bool: xsd.Boolean(), datetime.datetime: xsd.DateTime()}
    props = {
        "StringObjectKeyValuePair": [
            {"Key": k, "Value": xsd.AnyObject(xsd_types[type(v)], v)} for k, v in sent_props.items()
        ]
    }
    webhook = dict(
        WebhookId=0, Name="Zeep Alpha Hook", Events={"string": ["contact.created", "contact.changed"]},
        TargetUrl=receiver, Secret="zeep secret", State="Active", Type="webhook",
        Headers={"StringKeyValuePair": [{"Key": "X-Client", "Value": "zeep"}]}, Properties=props,
    )
    saved = call("SaveWebhook", Webhook=webhook).Response
    alpha_id = saved.WebhookId
    check("SaveWebhook: got an id", isinstance(alpha_id, int) and alpha_id > 0, alpha_id)
    check("SaveWebhook: State Active", saved.State == "Active", saved.State)
    check("SaveWebhook: RegisteredAssociate set", saved.RegisteredAssociate is not None and saved.RegisteredAssociate.AssociateId > 0,
          saved.RegisteredAssociate and saved.RegisteredAssociate.AssociateId)

    # GetWebhook: the typed Properties come back with their types.
    got = call("GetWebhook", WebhookId=alpha_id).Response
    check("GetWebhook: id, name, target", (got.WebhookId, got.Name, got.TargetUrl) == (alpha_id, "Zeep Alpha Hook", receiver),
          [got.WebhookId, got.Name, got.TargetUrl])
    check("GetWebhook: Events", list(got.Events.string) == ["contact.created", "contact.changed"], list(got.Events.string))
    headers = {p.Key: p.Value for p in (got.Headers.StringKeyValuePair if got.Headers else [])}
    check("GetWebhook: Headers", headers == {"X-Client": "zeep"}, headers)
    back = {p.Key: p.Value for p in (got.Properties.StringObjectKeyValuePair if got.Properties else [])}
    check("GetWebhook: Property keys", set(back) == set(sent_props), sorted(back))
    for key, value in sent_props.items():
        returned = back.get(key)
        # type() not isinstance(): a bool must not come back as int, nor an int as bool.
        same = type(returned) is type(value) and returned == value
        check(f"GetWebhook: Property {key} typed {type(value).__name__}", same, f"{type(returned).__name__}: {returned!r}")
    check("GetWebhook: Registered is a datetime", isinstance(got.Registered, datetime.datetime), repr(got.Registered))

    # A second, Stopped webhook (Stopped skips target verification) for the filters.
    beta = call("SaveWebhook", Webhook=dict(
        WebhookId=0, Name="zeep BETA hook", Events={"string": ["person.changed"]}, TargetUrl=receiver,
        State="Stopped", Type="webhook")).Response
    beta_id = beta.WebhookId
    check("SaveWebhook (Stopped): got an id", isinstance(beta_id, int) and beta_id > 0 and beta_id != alpha_id, beta_id)

    def get_all(**filters):
        response = call("GetAllWebhooks", **filters).Response
        return sorted(w.WebhookId for w in (response.Webhook if response is not None else []))

    both = sorted([alpha_id, beta_id])
    for label, filters, expected in [
        ("no filter", {}, both),
        ("NameFilter 'ZEEP' (case-insensitive substring)", {"NameFilter": "ZEEP"}, both),
        ("NameFilter 'alpha'", {"NameFilter": "alpha"}, [alpha_id]),
        ("NameFilter 'Beta H'", {"NameFilter": "Beta H"}, [beta_id]),
        ("NameFilter 'nomatch'", {"NameFilter": "nomatch"}, []),
        ("EventFilter contact.changed", {"EventFilter": "contact.changed"}, [alpha_id]),
        ("EventFilter person.changed", {"EventFilter": "person.changed"}, [beta_id]),
        ("EventFilter sale.created", {"EventFilter": "sale.created"}, []),
        ("StatusFilter Active", {"StatusFilter": "Active"}, [alpha_id]),
        ("StatusFilter Stopped", {"StatusFilter": "Stopped"}, [beta_id]),
        ("StatusFilter Unknown (no filter)", {"StatusFilter": "Unknown"}, both),
        ("NameFilter+StatusFilter", {"NameFilter": "zeep", "StatusFilter": "Stopped"}, [beta_id]),
    ]:
        ids = get_all(**filters)
        check(f"GetAllWebhooks: {label}", ids == expected, {"got": ids, "expected": expected})

    # TestWebhook: sends the test payload, stores nothing.
    result = call("TestWebhook", Webhook=dict(WebhookId=0, Name="zeep test", Events={"string": ["contact.created"]},
                                              TargetUrl=receiver, State="Active", Type="webhook")).Response
    check("TestWebhook: Success true", result.Success is True, repr(result.Success))
    check("TestWebhook: Message names the 200", isinstance(result.Message, str) and "200" in result.Message, result.Message)
    check("TestWebhook: nothing stored", get_all() == both, get_all())

    # GetLastError: empty string. zeep maps both '' and nil to None, so the raw element decides.
    last_error = call("GetLastError", WebhookId=alpha_id).Response
    raw = last_body_response("GetLastError")
    check("GetLastError: empty string on the wire",
          last_error in (None, "") and raw is not None and raw.get(XSI_NIL) is None and not (raw.text or ""),
          None if raw is None else etree.tostring(raw).decode())

    # DeleteWebhook, then GetWebhook answers a nil Response.
    deleted = call("DeleteWebhook", WebhookId=alpha_id)
    check("DeleteWebhook: empty response", deleted is None or not list(deleted), repr(deleted))
    gone = call("GetWebhook", WebhookId=alpha_id).Response
    raw = last_body_response("GetWebhook")
    # zeep 4.2 reads a nil complex element (what WCF writes for null, and so do we) as an object
    # whose fields are all None, not as None; only an absent element becomes None.
    check("GetWebhook after delete: None (or zeep's all-None object for xsi:nil)",
          gone is None or all(gone[name] is None for name in gone), repr(gone))
    check("GetWebhook after delete: Response is xsi:nil and empty",
          raw is not None and raw.get(XSI_NIL) == "true" and len(raw) == 0 and not (raw.text or ""),
          None if raw is None else etree.tostring(raw).decode())
    check("GetAllWebhooks after delete", get_all() == [beta_id], get_all())

    # NetServer 12.4's notification members round-trip through a client generated from our WSDL
    # (the reference WSDL predates them). Stopped: no target verification.
    if strict:
        notified = call("SaveWebhook", Webhook=dict(
            WebhookId=0, Name="zeep 12.4", Events={"string": ["contact.created"]}, TargetUrl=receiver, State="Stopped", Type="webhook",
            ErrorEmails={"string": ["ops@example.com", "oncall@example.com"]},
            ErrorAssociates={"MDOListItem": [{"Id": 7, "Name": "Seven"}]},
            NotifyVia=["Email", "InApp"], NotifyWhen=["FirstFailure", "Disabling"])).Response
        got = call("GetWebhook", WebhookId=notified.WebhookId).Response
        emails = list(got.ErrorEmails.string) if got.ErrorEmails else None
        check("12.4: ErrorEmails", emails == ["ops@example.com", "oncall@example.com"], emails)
        associates = [(a.Id, a.Name) for a in got.ErrorAssociates.MDOListItem] if got.ErrorAssociates else None
        check("12.4: ErrorAssociates", associates == [(7, "Seven")], associates)
        check("12.4: NotifyVia", list(got.NotifyVia or []) == ["Email", "InApp"], got.NotifyVia)
        check("12.4: NotifyWhen", list(got.NotifyWhen or []) == ["FirstFailure", "Disabling"], got.NotifyWhen)
        call("DeleteWebhook", WebhookId=notified.WebhookId)

    # A wrong ticket is the caller's mistake: soap:Client fault zeep can parse.
    try:
        service.GetAllWebhooks(_soapheaders=[credentials(Ticket="not-a-ticket")])
        check("wrong ticket: raises Fault", False, "no fault")
    except Fault as fault:
        code = fault.code or ""
        if code.startswith("{"):
            ns, local = code[1:].split("}", 1)
        else:
            prefix, _, local = code.rpartition(":")
            # Resolve the prefix where it was written: the faultcode element's namespace map.
            node = history.last_received["envelope"].find(".//faultcode")
            ns = node.nsmap.get(prefix or None) if node is not None else None
        check("wrong ticket: faultcode soap:Client", ns == SOAP_ENV and local == "Client", code)
        check("wrong ticket: faultstring says something", bool(fault.message and fault.message.strip()), fault.message)
        info = fault.detail.find("{%s}SoExceptionInfo" % TNS) if fault.detail is not None else None
        check("wrong ticket: detail has SoExceptionInfo/Message",
              info is not None and bool(info.findtext("{%s}Message" % TNS)),
              None if fault.detail is None else etree.tostring(fault.detail).decode()[:400])


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[5] not in ("strict", "lax"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    endpoint, ticket, wsdl, receiver, mode = sys.argv[1:]
    try:
        main(endpoint, ticket, wsdl, receiver, mode == "strict")
    except Exception as error:  # an unexpected exception is a mismatch too: report it, don't hide it
        check("no unexpected exception", False, "".join(traceback.format_exception_only(type(error), error)).strip())
        traceback.print_exc(file=sys.stderr)
    failed = [c for c in checks if not c["ok"]]
    print(json.dumps({"wsdl": wsdl, "strict": mode == "strict", "checks": len(checks), "failed": failed,
                      "passed": [c["check"] for c in checks if c["ok"]]}, indent=2, default=str))
    sys.exit(1 if failed or not checks else 0)
