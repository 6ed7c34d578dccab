#!/usr/bin/env python3
"""Writes schemas/bi/<version>/<MessageType>.json and common.json (JSON Schema 2020-12).

The generated files are the source of truth that crates/backend embeds and tests; this script only
keeps the ~50 files consistent. Run it from anywhere: `python3 schemas/bi/generate.py`.
Field lists follow TS002 1.0 §22 / 1.1 tables; see schemas/README.md for every decision.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "https://switchyard.invalid/schemas/bi"

HEX = r"^(0[xX])?([0-9a-fA-F]{2})*$"
HEX_NONEMPTY = r"^(0[xX])?([0-9a-fA-F]{2})+$"
NETID = r"^(0[xX])?[0-9a-fA-F]{6}$"
EUI64 = r"^(0[xX])?[0-9a-fA-F]{16}$"
DEVADDR = r"^(0[xX])?[0-9a-fA-F]{8}$"
GWID = r"^(0[xX])?([0-9a-fA-F]{8}|[0-9a-fA-F]{16})$"
CFLIST = r"^(0[xX])?([0-9a-fA-F]{32})?$"
BYTE = r"^(0[xX])?[0-9a-fA-F]{2}$"
CLEAR_KEY = r"^(0[xX])?[0-9a-fA-F]{32}$"
WRAPPED_KEY = r"^(0[xX])?([0-9a-fA-F]{16}){3,}$"
DATETIME = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
            r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")

U8 = (0, 255)
U32 = (0, 4294967295)


def t(kind, optional):
    return [kind, "null"] if optional else kind


def frag(spec, optional):
    """spec: ('pattern', P) | ('str',) | ('int', lo, hi) | ('num',) | ('bool',) | ('obj', def)
    | ('arr', def) | ('numarr',) | ('anyobj',)"""
    kind = spec[0]
    if kind == "pattern":
        return {"type": t("string", optional), "pattern": spec[1]}
    if kind == "str":
        return {"type": t("string", optional), "minLength": 1}
    if kind == "anystr":
        return {"type": t("string", optional)}
    if kind == "int":
        out = {"type": t("integer", optional)}
        if spec[1] is not None:
            out["minimum"] = spec[1]
        if spec[2] is not None:
            out["maximum"] = spec[2]
        return out
    if kind == "num":
        return {"type": t("number", optional)}
    if kind == "bool":
        return {"type": t("boolean", optional)}
    if kind == "obj":
        return {"type": t("object", optional), "$ref": f"common.json#/$defs/{spec[1]}"}
    if kind == "arr":
        return {"type": t("array", optional),
                "items": {"type": "object", "$ref": f"common.json#/$defs/{spec[1]}"}}
    if kind == "numarr":
        return {"type": t("array", optional), "items": {"type": "number"}}
    if kind == "anyobj":
        return {"type": t("object", optional)}
    raise ValueError(kind)


def obj(fields, required=()):
    """An object def without a top-level type (the use site says object or object-or-null)."""
    props = {name: frag(spec, name not in required) for name, spec in fields}
    out = {"properties": props}
    if required:
        out["required"] = list(required)
    return out


P = lambda p: ("pattern", p)  # noqa: E731

GWINFO = [
    ("ID", P(GWID)), ("RFRegion", ("str",)), ("RSSI", ("int", None, None)), ("SNR", ("num",)),
    ("Lat", ("num",)), ("Lon", ("num",)), ("ULToken", P(HEX)), ("DLAllowed", ("bool",)),
]
GWINFO_11 = GWINFO + [("FineRecvTime", ("int", None, None))]

ULMETA = [
    ("DevEUI", P(EUI64)), ("DevAddr", P(DEVADDR)), ("FPort", ("int", *U8)),
    ("FCntDown", ("int", *U32)), ("FCntUp", ("int", *U32)), ("Confirmed", ("bool",)),
    ("DataRate", ("int", *U8)), ("ULFreq", ("num",)), ("Margin", ("int", None, None)),
    ("Battery", ("int", *U8)), ("FNSULToken", P(HEX)), ("RecvTime", P(DATETIME)),
    ("RFRegion", ("str",)), ("GWCnt", ("int", *U32)), ("GWInfo", ("arr", "GWInfo")),
]
DLMETA = [
    ("DevEUI", P(EUI64)), ("FPort", ("int", *U8)), ("FCntDown", ("int", *U32)),
    ("Confirmed", ("bool",)), ("DLFreq1", ("num",)), ("DLFreq2", ("num",)),
    ("RXDelay1", ("int", 0, 15)), ("ClassMode", ("str",)), ("DataRate1", ("int", *U8)),
    ("DataRate2", ("int", *U8)), ("FNSULToken", P(HEX)), ("GWInfo", ("arr", "GWInfo")),
    ("HiPriorityFlag", ("bool",)),
]
DEVICE_PROFILE = [
    ("DeviceProfileID", ("anystr",)), ("SupportsClassB", ("bool",)),
    ("ClassBTimeout", ("int", 0, None)), ("PingSlotPeriod", ("int", 0, None)),
    ("PingSlotDR", ("int", *U8)), ("PingSlotFreq", ("num",)), ("SupportsClassC", ("bool",)),
    ("ClassCTimeout", ("int", 0, None)), ("MACVersion", ("str",)),
    ("RegParamsRevision", ("str",)), ("RXDelay1", ("int", 0, 15)),
    ("RXDROffset1", ("int", *U8)), ("RXDataRate2", ("int", *U8)), ("RXFreq2", ("num",)),
    ("FactoryPresetFreqs", ("numarr",)), ("MaxEIRP", ("int", None, None)),
    ("MaxDutyCycle", ("num",)), ("SupportsJoin", ("bool",)), ("RFRegion", ("str",)),
    ("Supports32bitFCnt", ("bool",)),
]
SERVICE_PROFILE = [
    ("ServiceProfileID", ("anystr",)), ("ULRate", ("int", 0, None)),
    ("ULBucketSize", ("int", 0, None)), ("ULRatePolicy", ("str",)), ("DLRate", ("int", 0, None)),
    ("DLBucketSize", ("int", 0, None)), ("DLRatePolicy", ("str",)),
    ("AddGWMetadata", ("bool",)), ("DevStatusReqFreq", ("int", 0, None)),
    ("ReportDevStatusBatery", ("bool",)), ("ReportDevStatusMargin", ("bool",)),
    ("DRMin", ("int", *U8)), ("DRMax", ("int", *U8)), ("ChannelMask", P(HEX)),
    ("PRAllowed", ("bool",)), ("HRAllowed", ("bool",)), ("RAAllowed", ("bool",)),
    ("NwkGeoLoc", ("bool",)), ("TargetPER", ("num",)), ("MinGWDiversity", ("int", 0, None)),
]
ROUTING_PROFILE = [("RoutingProfileID", ("anystr",)), ("AS-ID", ("str",))]


def common(version):
    key_envelope = obj([("KEKLabel", ("anystr",)), ("AESKey", P(HEX))], required=["AESKey"])
    # RFC 3394: a wrapped key is (n + 1) 64-bit blocks, n >= 2; a clear AES-128 key is 16 bytes.
    key_envelope["if"] = {"properties": {"KEKLabel": {"type": "string", "minLength": 1}},
                          "required": ["KEKLabel"]}
    key_envelope["then"] = {"properties": {"AESKey": {"pattern": WRAPPED_KEY}}}
    key_envelope["else"] = {"properties": {"AESKey": {"pattern": CLEAR_KEY}}}
    result = obj([("ResultCode", ("str",)), ("Description", ("anystr",))],
                 required=["ResultCode"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE}/{version}/common.json",
        "title": f"Backend Interfaces {version}: shared objects",
        "$defs": {
            "Result": result,
            "KeyEnvelope": key_envelope,
            "GWInfo": obj(GWINFO_11 if version == "1.1" else GWINFO),
            "ULMetaData": obj(ULMETA, required=["RecvTime"]),
            "DLMetaData": obj(DLMETA),
            "DeviceProfile": obj(DEVICE_PROFILE),
            "ServiceProfile": obj(SERVICE_PROFILE),
            "RoutingProfile": obj(ROUTING_PROFILE),
        },
    }


KEY = ("obj", "KeyEnvelope")
RESULT = ("obj", "Result")
JOIN_REQ = [("MACVersion", ("str",)), ("PHYPayload", P(HEX_NONEMPTY)), ("DevEUI", P(EUI64)),
            ("DevAddr", P(DEVADDR)), ("DLSettings", P(BYTE)), ("RxDelay", ("int", 0, 15)),
            ("CFList", P(CFLIST))]
JOIN_REQ_REQUIRED = ["MACVersion", "PHYPayload", "DevEUI", "DevAddr", "DLSettings", "RxDelay"]
JOIN_ANS = [("Result", RESULT), ("PHYPayload", P(HEX_NONEMPTY)), ("Lifetime", ("int", *U32)),
            ("SNwkSIntKey", KEY), ("FNwkSIntKey", KEY), ("NwkSEncKey", KEY), ("NwkSKey", KEY),
            ("AppSKey", KEY), ("SessionKeyID", P(HEX))]
ONLY_RESULT = ([("Result", RESULT)], ["Result"])
DEV_EUI = ([("DevEUI", P(EUI64))], ["DevEUI"])

# name: (sender id kind, receiver id kind, fields, required, versions)
NS, JS, AS, ANY = P(NETID), P(EUI64), ("str",), ("str",)
MESSAGES = {
    "JoinReq": (NS, JS, JOIN_REQ, JOIN_REQ_REQUIRED, "both"),
    "JoinAns": (JS, NS, JOIN_ANS, ["Result"], "both"),
    "RejoinReq": (NS, JS, JOIN_REQ, JOIN_REQ_REQUIRED, "both"),
    "RejoinAns": (JS, NS, JOIN_ANS, ["Result"], "both"),
    "AppSKeyReq": (AS, JS, [("DevEUI", P(EUI64)), ("SessionKeyID", P(HEX))],
                   ["DevEUI", "SessionKeyID"], "both"),
    "AppSKeyAns": (JS, AS, [("Result", RESULT), ("DevEUI", P(EUI64)), ("AppSKey", KEY),
                            ("SessionKeyID", P(HEX))], ["Result"], "both"),
    "PRStartReq": (NS, NS, [("PHYPayload", P(HEX_NONEMPTY)), ("ULMetaData", ("obj", "ULMetaData"))],
                   ["PHYPayload", "ULMetaData"], "both"),
    "PRStartAns": (NS, NS, [("Result", RESULT), ("PHYPayload", P(HEX_NONEMPTY)),
                            ("DevEUI", P(EUI64)), ("Lifetime", ("int", *U32)),
                            ("FNwkSIntKey", KEY), ("NwkSKey", KEY), ("FCntUp", ("int", *U32)),
                            ("ServiceProfile", ("obj", "ServiceProfile")),
                            ("DLMetaData", ("obj", "DLMetaData")), ("DevAddr", P(DEVADDR))],
                   ["Result"], "both"),
    "PRStartNotif": (NS, NS, *ONLY_RESULT, "1.1"),
    "PRStopReq": (NS, NS, [("DevEUI", P(EUI64)), ("Lifetime", ("int", *U32))], ["DevEUI"], "both"),
    "PRStopAns": (NS, NS, *ONLY_RESULT, "both"),
    "HRStartReq": (NS, NS, [("MACVersion", ("str",)), ("PHYPayload", P(HEX_NONEMPTY)),
                            ("DevAddr", P(DEVADDR)), ("DeviceProfile", ("obj", "DeviceProfile")),
                            ("ULMetaData", ("obj", "ULMetaData")),
                            ("DeviceProfileTimestamp", P(DATETIME)), ("DLSettings", P(BYTE)),
                            ("RxDelay", ("int", 0, 15)), ("CFList", P(CFLIST))],
                   ["PHYPayload", "ULMetaData"], "both"),
    "HRStartAns": (NS, NS, [("Result", RESULT), ("PHYPayload", P(HEX_NONEMPTY)),
                            ("Lifetime", ("int", *U32)), ("SNwkSIntKey", KEY),
                            ("FNwkSIntKey", KEY), ("NwkSEncKey", KEY), ("NwkSKey", KEY),
                            ("DeviceProfile", ("obj", "DeviceProfile")),
                            ("ServiceProfile", ("obj", "ServiceProfile")),
                            ("DLMetaData", ("obj", "DLMetaData")),
                            ("DeviceProfileTimestamp", P(DATETIME))], ["Result"], "both"),
    "HRStopReq": (NS, NS, *DEV_EUI, "both"),
    "HRStopAns": (NS, NS, *ONLY_RESULT, "both"),
    "HomeNSReq": (NS, JS, *DEV_EUI, "both"),
    "HomeNSAns": (JS, NS, [("Result", RESULT), ("HNetID", P(NETID)), ("HNSID", ("str",))],
                  ["Result"], "both"),
    "ProfileReq": (NS, NS, *DEV_EUI, "both"),
    "ProfileAns": (NS, NS, [("Result", RESULT), ("DeviceProfile", ("obj", "DeviceProfile")),
                            ("DeviceProfileTimestamp", P(DATETIME)),
                            ("RoamingActivationType", ("str",))], ["Result"], "both"),
    "XmitDataReq": (NS, NS, [("PHYPayload", P(HEX_NONEMPTY)), ("FRMPayload", P(HEX)),
                             ("ULMetaData", ("obj", "ULMetaData")),
                             ("DLMetaData", ("obj", "DLMetaData"))], [], "both"),
    "XmitDataAns": (NS, NS, *ONLY_RESULT, "both"),
    "XmitLocReq": (NS, NS, [("PHYPayload", P(HEX_NONEMPTY)),
                            ("ULMetaData", ("obj", "ULMetaData"))], [], "1.1"),
    "XmitLocAns": (NS, NS, *ONLY_RESULT, "1.1"),
    "ErrorNotif": (ANY, ANY, *ONLY_RESULT, "1.1"),
}


def message(version, name, spec):
    sender, receiver, fields, required, _ = spec
    header = [
        ("ProtocolVersion", None), ("SenderID", sender), ("ReceiverID", receiver),
        ("TransactionID", ("int", *U32)), ("MessageType", None),
        ("SenderToken", P(HEX)), ("ReceiverToken", P(HEX)),
        ("SenderNSID", ("str",)), ("ReceiverNSID", ("str",)), ("VSExtension", ("anyobj",)),
    ]
    header_required = ["ProtocolVersion", "SenderID", "ReceiverID", "MessageType"]
    props = {}
    for field, fspec in header:
        if field == "ProtocolVersion":
            props[field] = {"const": version}
        elif field == "MessageType":
            props[field] = {"const": name}
        else:
            props[field] = frag(fspec, field not in header_required)
    for field, fspec in fields:
        props[field] = frag(fspec, field not in required)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE}/{version}/{name}.json",
        "title": f"Backend Interfaces {version} {name}",
        "type": "object",
        "properties": props,
        "required": header_required + list(required),
        # Unknown fields are kept and passed on (schemas/README.md, "Additional properties").
        "additionalProperties": True,
    }


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


for version in ("1.0", "1.1"):
    folder = os.path.join(HERE, version)
    os.makedirs(folder, exist_ok=True)
    write(os.path.join(folder, "common.json"), common(version))
    for name, spec in MESSAGES.items():
        if spec[4] == "both" or spec[4] == version:
            write(os.path.join(folder, f"{name}.json"), message(version, name, spec))
