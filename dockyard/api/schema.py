"""The JSON types of request bodies, checked as moby's Go decoder checks them.

moby decodes a body into Go structs, so a field of the wrong JSON type is a
400 that names the field (``json: cannot unmarshal string into Go struct field
HostConfig.HostConfig.Memory of type int64``), a key matches its field
case-insensitively, ``null`` leaves a field unset, and unknown keys are
ignored. ``check`` does the same on the decoded JSON and returns the body with
its known keys in their canonical spelling, so the engine sees one form.

Types follow moby's api/swagger.yaml (ContainerConfig, HostConfig, Resources,
NetworkingConfig, ExecConfig, ExecStartConfig) and the Go types behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument


@dataclass(frozen=True)
class Scalar:
    go_type: str


@dataclass(frozen=True)
class ListOf:
    item: Type


@dataclass(frozen=True)
class MapOf:
    value: Type


@dataclass(frozen=True)
class StrSlice:
    """moby's strslice.StrSlice: a string or an array of strings."""


@dataclass(frozen=True)
class Struct:
    name: str
    fields: dict[str, Type] = field(default_factory=dict)

    def lookup(self, key: str) -> tuple[str, Type] | None:
        if key in self.fields:
            return key, self.fields[key]
        folded = key.casefold()
        for name, kind in self.fields.items():
            if name.casefold() == folded:
                return name, kind
        return None


Type = Scalar | ListOf | MapOf | StrSlice | Struct

STRING = Scalar("string")
BOOL = Scalar("bool")
INT = Scalar("int")
INT64 = Scalar("int64")
UINT16 = Scalar("uint16")
UINT32 = Scalar("uint32")
UINT64 = Scalar("uint64")
STRINGS = ListOf(STRING)
LABELS = MapOf(STRING)
EMPTY_OBJECT_SET = MapOf(Struct("struct {}"))
CONSOLE_SIZE = ListOf(Scalar("uint"))

_THROTTLE_DEVICES = ListOf(Struct("ThrottleDevice", {"Path": STRING, "Rate": UINT64}))

RESOURCES: dict[str, Type] = {
    "CpuShares": INT64,
    "Memory": INT64,
    "NanoCpus": INT64,
    "CgroupParent": STRING,
    "BlkioWeight": UINT16,
    "BlkioWeightDevice": ListOf(Struct("WeightDevice", {"Path": STRING, "Weight": UINT16})),
    "BlkioDeviceReadBps": _THROTTLE_DEVICES,
    "BlkioDeviceWriteBps": _THROTTLE_DEVICES,
    "BlkioDeviceReadIOps": _THROTTLE_DEVICES,
    "BlkioDeviceWriteIOps": _THROTTLE_DEVICES,
    "CpuPeriod": INT64,
    "CpuQuota": INT64,
    "CpuRealtimePeriod": INT64,
    "CpuRealtimeRuntime": INT64,
    "CpusetCpus": STRING,
    "CpusetMems": STRING,
    "Devices": ListOf(
        Struct(
            "DeviceMapping",
            {"PathOnHost": STRING, "PathInContainer": STRING, "CgroupPermissions": STRING},
        )
    ),
    "DeviceCgroupRules": STRINGS,
    "DeviceRequests": ListOf(
        Struct(
            "DeviceRequest",
            {
                "Driver": STRING,
                "Count": INT,
                "DeviceIDs": STRINGS,
                "Capabilities": ListOf(STRINGS),
                "Options": LABELS,
            },
        )
    ),
    "KernelMemory": INT64,
    "KernelMemoryTCP": INT64,
    "MemoryReservation": INT64,
    "MemorySwap": INT64,
    "MemorySwappiness": INT64,
    "OomKillDisable": BOOL,
    "PidsLimit": INT64,
    "Ulimits": ListOf(Struct("Ulimit", {"Name": STRING, "Hard": INT64, "Soft": INT64})),
    "CpuCount": INT64,
    "CpuPercent": INT64,
    "IOMaximumIOps": UINT64,
    "IOMaximumBandwidth": UINT64,
}

_MOUNT = Struct(
    "Mount",
    {
        "Type": STRING,
        "Source": STRING,
        "Target": STRING,
        "ReadOnly": BOOL,
        "Consistency": STRING,
        "BindOptions": Struct(
            "BindOptions",
            {
                "Propagation": STRING,
                "NonRecursive": BOOL,
                "CreateMountpoint": BOOL,
                "ReadOnlyNonRecursive": BOOL,
                "ReadOnlyForceRecursive": BOOL,
            },
        ),
        "VolumeOptions": Struct(
            "VolumeOptions",
            {
                "NoCopy": BOOL,
                "Labels": LABELS,
                "Subpath": STRING,
                "DriverConfig": Struct("Driver", {"Name": STRING, "Options": LABELS}),
            },
        ),
        "TmpfsOptions": Struct(
            "TmpfsOptions",
            {"SizeBytes": INT64, "Mode": UINT32, "Options": ListOf(STRINGS)},
        ),
    },
)

HOST_CONFIG = Struct(
    "HostConfig",
    {
        **RESOURCES,
        "Binds": STRINGS,
        "ContainerIDFile": STRING,
        "LogConfig": Struct("LogConfig", {"Type": STRING, "Config": LABELS}),
        "NetworkMode": STRING,
        "PortBindings": MapOf(
            ListOf(Struct("PortBinding", {"HostIp": STRING, "HostPort": STRING}))
        ),
        "RestartPolicy": Struct("RestartPolicy", {"Name": STRING, "MaximumRetryCount": INT}),
        "AutoRemove": BOOL,
        "VolumeDriver": STRING,
        "VolumesFrom": STRINGS,
        "Mounts": ListOf(_MOUNT),
        "ConsoleSize": CONSOLE_SIZE,
        "Annotations": LABELS,
        "CapAdd": StrSlice(),
        "CapDrop": StrSlice(),
        "CgroupnsMode": STRING,
        "Dns": STRINGS,
        "DnsOptions": STRINGS,
        "DnsSearch": STRINGS,
        "ExtraHosts": STRINGS,
        "GroupAdd": STRINGS,
        "IpcMode": STRING,
        "Cgroup": STRING,
        "Links": STRINGS,
        "OomScoreAdj": INT,
        "PidMode": STRING,
        "Privileged": BOOL,
        "PublishAllPorts": BOOL,
        "ReadonlyRootfs": BOOL,
        "SecurityOpt": STRINGS,
        "StorageOpt": LABELS,
        "Tmpfs": LABELS,
        "UTSMode": STRING,
        "UsernsMode": STRING,
        "ShmSize": INT64,
        "Sysctls": LABELS,
        "Runtime": STRING,
        "Isolation": STRING,
        "MaskedPaths": STRINGS,
        "ReadonlyPaths": STRINGS,
        "Init": BOOL,
    },
)

_ENDPOINT_SETTINGS = Struct(
    "EndpointSettings",
    {
        "IPAMConfig": Struct(
            "EndpointIPAMConfig",
            {"IPv4Address": STRING, "IPv6Address": STRING, "LinkLocalIPs": STRINGS},
        ),
        "Links": STRINGS,
        "Aliases": STRINGS,
        "MacAddress": STRING,
        "DriverOpts": LABELS,
        "NetworkID": STRING,
        "EndpointID": STRING,
        "Gateway": STRING,
        "IPAddress": STRING,
        "IPPrefixLen": INT,
        "IPv6Gateway": STRING,
        "GlobalIPv6Address": STRING,
        "GlobalIPv6PrefixLen": INT,
        "DNSNames": STRINGS,
    },
)

CONFIG: dict[str, Type] = {
    "Hostname": STRING,
    "Domainname": STRING,
    "User": STRING,
    "AttachStdin": BOOL,
    "AttachStdout": BOOL,
    "AttachStderr": BOOL,
    "ExposedPorts": EMPTY_OBJECT_SET,
    "Tty": BOOL,
    "OpenStdin": BOOL,
    "StdinOnce": BOOL,
    "Env": STRINGS,
    "Cmd": StrSlice(),
    "Healthcheck": Struct(
        "HealthConfig",
        {
            "Test": STRINGS,
            "Interval": INT64,
            "Timeout": INT64,
            "StartPeriod": INT64,
            "StartInterval": INT64,
            "Retries": INT,
        },
    ),
    "ArgsEscaped": BOOL,
    "Image": STRING,
    "Volumes": EMPTY_OBJECT_SET,
    "WorkingDir": STRING,
    "Entrypoint": StrSlice(),
    "NetworkDisabled": BOOL,
    "MacAddress": STRING,
    "OnBuild": STRINGS,
    "Labels": LABELS,
    "StopSignal": STRING,
    "StopTimeout": INT,
    "Shell": StrSlice(),
}

# Config is embedded in CreateRequest, so its fields sit at the top level.
CREATE_REQUEST = Struct(
    "CreateRequest",
    {
        **CONFIG,
        "HostConfig": HOST_CONFIG,
        "NetworkingConfig": Struct(
            "NetworkingConfig", {"EndpointsConfig": MapOf(_ENDPOINT_SETTINGS)}
        ),
    },
)

EXEC_CONFIG = Struct(
    "ExecOptions",
    {
        "User": STRING,
        "Privileged": BOOL,
        "Tty": BOOL,
        "ConsoleSize": CONSOLE_SIZE,
        "AttachStdin": BOOL,
        "AttachStderr": BOOL,
        "AttachStdout": BOOL,
        "DetachKeys": STRING,
        "Env": STRINGS,
        "WorkingDir": STRING,
        "Cmd": StrSlice(),
    },
)

EXEC_START_CONFIG = Struct(
    "ExecStartOptions", {"Detach": BOOL, "Tty": BOOL, "ConsoleSize": CONSOLE_SIZE}
)

AUTH_CONFIG = Struct(
    "AuthConfig",
    {
        "username": STRING,
        "password": STRING,
        "auth": STRING,
        "email": STRING,
        "serveraddress": STRING,
        "identitytoken": STRING,
        "registrytoken": STRING,
    },
)


def go_type(kind: Type) -> str:
    match kind:
        case Scalar(go_type=name):
            return name
        case ListOf(item=item):
            return "[]" + go_type(item)
        case MapOf(value=value):
            return "map[string]" + go_type(value)
        case StrSlice():
            return "strslice.StrSlice"
        case Struct(name=name):
            return name


def json_kind(value: object) -> str:
    """How Go's decoder names a JSON value in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}" if isinstance(value, float) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class _Where:
    struct: str
    path: str

    def into(self, struct: str, key: str) -> _Where:
        return _Where(struct, f"{self.path}.{key}" if self.path else key)

    def fail(self, value: object, kind: Type) -> InvalidArgument:
        target = f"Go struct field {self.struct}.{self.path}" if self.path else "Go value"
        return InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {json_kind(value)} into {target} "
            f"of type {go_type(kind)}"
        )


def check(value: object, kind: Struct) -> dict:
    """The body with known keys canonical and nulls dropped; InvalidArgument on a type error."""
    if value is None:
        return {}
    return _check_struct(value, kind, _Where(kind.name, ""))


def _check(value: object, kind: Type, where: _Where) -> object:
    match kind:
        case Scalar():
            return _check_scalar(value, kind, where)
        case StrSlice():
            if isinstance(value, str):
                return [value]
            return _check(value, STRINGS, where)
        case ListOf(item=item):
            if not isinstance(value, list):
                raise where.fail(value, kind)
            return [_check(v, item, where) for v in value]
        case MapOf(value=item):
            if not isinstance(value, dict):
                raise where.fail(value, kind)
            return {k: _check(v, item, where) for k, v in value.items()}
        case Struct():
            return _check_struct(value, kind, where)


def _check_struct(value: object, kind: Struct, where: _Where) -> dict:
    if not isinstance(value, dict):
        raise where.fail(value, kind)
    checked: dict = {}
    for key, item in value.items():
        known = kind.lookup(key)
        if known is None:
            checked[key] = item
        elif item is not None:
            name, field_kind = known
            checked[name] = _check(item, field_kind, where.into(kind.name, name))
    return checked


def _check_scalar(value: object, kind: Scalar, where: _Where) -> object:
    if value is None or _fits(value, kind.go_type):
        return value
    raise where.fail(value, kind)


def _fits(value: object, go_type: str) -> bool:
    if go_type == "string":
        return isinstance(value, str)
    if go_type == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return value >= 0 or not go_type.startswith("uint")
