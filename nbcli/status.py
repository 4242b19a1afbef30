"""NetBackup status codes: the one table every nbcli process uses.

Each code's message is NetBackup's own text (shared/reference/netbackup-cli.md §3), so that a
runbook grepping for "EXIT STATUS 239" or for the message keeps working. Nothing else in nbcli
holds status text. This module imports nothing from nbcli.
"""

from __future__ import annotations

MESSAGES: dict[int, str] = {
    0: 'the requested operation was successfully completed',
    1: 'the requested operation was partially successful',
    2: 'none of the requested files were backed up',
    3: 'valid archive image produced, but no files deleted due to non-fatal problems',
    4: 'archive file removal failed',
    5: 'the restore failed to recover the requested files',
    6: 'the backup failed to back up the requested files',
    7: 'the archive failed to back up the requested files',
    8: 'unable to determine the status of rbak',
    9: 'a necessary extension package is not installed or not configured properly',
    10: 'allocation failed',
    11: 'system call failed',
    12: 'file open failed',
    13: 'file read failed',
    14: 'file write failed',
    15: 'file close failed',
    20: 'invalid command parameter',
    21: 'socket open failed',
    22: 'socket close failed',
    23: 'socket read failed',
    24: 'socket write failed',
    25: 'cannot connect on socket',
    26: 'client/server handshaking failed',
    27: 'child process killed by signal',
    29: 'failed trying to exec a command',
    35: 'cannot make required directory',
    36: 'failed trying to allocate memory',
    37: 'operation requested by an invalid server',
    39: 'client name mismatch',
    40: 'network connection broken',
    41: 'network connection timed out',
    42: 'network read failed',
    43: 'unexpected message received',
    44: 'network write failed',
    46: 'server not allowed access',
    47: 'host is unreachable',
    48: 'client hostname could not be found',
    49: 'client did not start',
    50: 'client process aborted',
    51: 'timed out waiting for database information',
    52: 'timed out waiting for media manager to mount volume',
    53: 'backup restore manager failed to read the file list',
    54: 'timed out connecting to client',
    55: 'permission denied by client during rcmd',
    56: "client's network is unreachable",
    57: 'client connection refused',
    58: "can't connect to client",
    59: 'access to the client was not allowed',
    60: 'client cannot read the mount table',
    63: 'process was killed by a signal',
    64: 'timed out waiting for the client backup to start',
    65: 'client timed out waiting for the continue message from the media manager',
    67: 'client backup failed to read the file list',
    68: 'client timed out waiting for the file list',
    69: 'invalid filelist specification',
    71: 'none of the files in the file list exist',
    72: 'the client type is incorrect in the configuration database',
    73: 'bpstart_notify failed',
    74: 'client timed out waiting for bpstart_notify to complete',
    75: 'client timed out waiting for bpend_notify to complete',
    76: 'client timed out reading file',
    77: 'execution of the specified system command returned a nonzero status',
    80: 'Media Manager device daemon (ltid) is not active',
    81: 'Media Manager volume daemon (vmd) is not active',
    82: 'media manager killed by signal',
    83: 'media open error',
    84: 'media write error',
    85: 'media read error',
    86: 'media position error',
    87: 'media close error',
    89: 'problems encountered during setup of shared memory',
    90: 'media manager received no data for backup image',
    91: 'fatal NB media database error',
    92: 'media manager detected image that was not in tar format',
    93: 'media manager found wrong tape in drive',
    94: 'cannot position to correct image',
    95: 'Media ID is not assigned to this host in the EMM database',
    96: 'unable to allocate new media for backup, storage unit has none available',
    97: 'requested media ID is in use, cannot process request',
    98: 'error requesting media (tpreq)',
    99: 'NDMP backup failure',
    100: 'system error occurred while processing user command',
    103: 'error occurred during initialization, check configuration file',
    105: 'file pathname exceeds the maximum length allowed',
    109: 'invalid date specified',
    110: 'Cannot find the NetBackup configuration information',
    111: 'No entry was found in the server list',
    112: 'no files specified in the file list',
    116: 'VxSS authentication failed',
    117: 'VxSS access denied',
    121: 'no media is defined for the requested NB database backup',
    125: 'a NetBackup catalog backup is in progress',
    129: 'Disk storage unit is full',
    130: 'system error occurred',
    131: 'client is not validated to use the server',
    133: 'invalid request',
    134: 'unable to process request because the server resources are busy',
    135: 'client is not validated to perform the requested operation',
    136: 'tir info was pruned from the image file',
    140: 'User ID was not superuser',
    141: 'file path specified is not absolute',
    142: 'file does not exist',
    143: 'invalid command protocol',
    144: 'invalid command usage',
    145: 'daemon is already running',
    147: 'required or specified copy was not found',
    149: 'master server request failed',
    150: 'termination requested by administrator',
    152: 'required value not set',
    153: 'server is not the master server',
    154: 'storage unit characteristics mismatched to request',
    155: 'disk is full',
    156: 'snapshot error encountered',
    157: 'suspend requested by administrator',
    158: 'failed accessing daemon lock file',
    159: 'licensed use has been exceeded',
    160: 'authentication failed',
    161: 'Evaluation software has expired.',
    163: 'media block size changed prior resume',
    164: 'unable to mount media because it is in a DOWN, or otherwise not available',
    165: 'NB image database contains no image fragments for requested backup id/copy number',
    166: 'backups are not allowed to span media',
    167: 'cannot find requested volume pool in EMM database',
    168: 'cannot overwrite media, data on it is protected',
    169: 'Media ID is either expired or will exceed maximum mounts',
    171: 'media id must be 6 or less characters',
    172: 'cannot read media header, may not be NetBackup media or is corrupted',
    173: 'cannot read backup header, media may be corrupted',
    174: 'media manager - system error occurred',
    175: 'not all requested files were restored',
    176: 'cannot perform specified media import operation',
    177: 'could not deassign media due to Media Manager error',
    178: 'Media ID is not in NetBackup volume pool',
    179: 'density is incorrect for the media ID',
    180: 'tar was successful',
    181: 'tar received an invalid argument',
    182: 'tar received an invalid file name',
    183: 'tar received an invalid archive',
    184: 'tar had an unexpected error',
    185: 'tar did not find all the files to be restored',
    186: 'tar received no data',
    189: "the server is not allowed to write to the client's file systems",
    190: 'found no images or media matching the selection criteria',
    191: 'no images were successfully processed',
    194: 'the maximum number of jobs per client is set to 0',
    195: 'client backup was not attempted',
    196: 'client backup was not attempted because backup window closed',
    197: 'the specified schedule does not exist in the specified policy',
    198: 'no active policies contain schedules of the requested type for this client',
    199: 'operation not allowed during this time period',
    200: 'scheduler found no backups due to run',
    201: 'handshaking failed with server backup restore manager',
    202: 'timed out connecting to server backup restore manager',
    204: 'connection refused by server backup restore manager',
    205: 'cannot connect to server backup restore manager',
    206: 'access to server backup restore manager denied',
    207: 'error obtaining date of last backup for client',
    209: 'error creating or getting message queue',
    213: 'no storage units available for use',
    215: 'failed reading global config database information',
    216: 'failed reading retention database information',
    217: 'failed reading storage unit database information',
    218: 'failed reading policy database information',
    219: 'the required storage unit is unavailable',
    220: 'database system error',
    221: 'continue',
    222: 'done',
    223: 'an invalid entry was encountered',
    224: 'there was a conflicting specification',
    225: 'text exceeded allowed length',
    226: 'the entity already exists',
    227: 'no entity was found',
    228: 'unable to process request',
    229: 'events out of sequence - image inconsistency',
    230: 'the specified policy does not exist in the configuration database',
    231: 'schedule windows overlap',
    232: 'a protocol error has occurred',
    233: 'premature eof encountered',
    234: 'communication interrupted',
    235: 'inadequate buffer space',
    236: 'the specified client does not exist in an active policy within the configuration database',
    237: 'the specified schedule does not exist in an active policy in the configuration database',
    238: 'the database contains conflicting or erroneous entries',
    239: 'the specified client does not exist in the specified policy',
    240: 'no schedules of the correct type exist in this policy',
    241: 'the specified schedule is the wrong type for this request',
    242: 'operation would cause an illegal duplication',
    243: 'the client is not in the configuration',
    245: 'the specified policy is not of the correct client type',
    246: 'no active policies in the configuration database are of the correct client type',
    247: 'the specified policy is not active',
    248: 'there are no active policies in the configuration database',
    249: 'the file list is incomplete',
    250: 'the image was not created with TIR information',
    251: 'the tir information is zero length',
    252: 'An extended error status has been encountered, check detailed status',
    253: 'the catalog image .f file has been archived',
    254: 'server name not found in the NetBackup configuration',
    256: 'logic error encountered',
    257: 'failed to get job data',
    273: 'invalid job id',
    288: 'vault eject partially succeeded',
    294: 'vault catalog backup failed',
    306: 'vault duplication partially succeeded',
    308: 'no images duplicated',
    501: 'You are not authorized to use this application.',
    505: 'Cannot connect to the NB-Java authentication service on host on the configured port.',
    512: 'Internal error.',
    600: 'an exception condition occurred',
    604: 'no target storage unit specified for the new job',
    607: 'no images were found to synthesize',
    612: 'cannot send extents to bpsynth',
    800: 'resource request failed',
    801: 'JM internal error',
    802: 'JM internal protocol error',
    803: 'JM terminating',
    805: 'Invalid jobid',
    806: 'this mpx group is unjoinable',
    807: 'not externalized',
    811: 'failed to communicate with resource requester',
    812: 'failed to communicate with resource broker',
    818: 'retention level mismatch',
    830: 'drive(s) unavailable or down',
    900: 'retry nbrb request later',
    901: 'RB internal error',
    906: 'RB operator denied mount request',
    907: 'RB user canceled resource request',
    912: 'RB disk volume mount failed',
    916: 'Resource request timed out',
    1000: 'Client is offline',
    1405: 'No images are found.',
    1500: "Storage unit does not exist or can't be used where specified",
    1519: 'Images are in process',
    1542: 'An existing snapshot is no longer valid and cannot be mounted for subsequent operations',
    1573: 'Backup image cannot be expired because its SLP processing is not yet complete',
    2000: 'Unable to allocate new media for backup, storage unit has none available.',
    2001: 'No drives are available for this job',
    2005: 'MDS has received an invalid message from a media server.',
    2007: 'Storage unit is not compatible with requesting job',
    2008: 'All compatible drive paths are down',
    2009: 'All compatible drive paths are down but media is available',
    2027: 'Media server is not active',
    2030: 'Insufficient disk space or high water mark would be exceeded',
    2040: 'Maximum job count has been reached for the storage unit',
    2041: 'Storage unit is down',
    2045: 'Storage unit is disabled since max job count is less than 1',
    2060: 'Media needs to be rewound or unmounted from a drive',
    2066: 'Disk pool not found',
    2073: 'Disk pool is down',
    2074: 'Disk volume is down',
    2101: 'Media server not found in EMM database',
    2104: 'Storage units are not available',
    2106: 'Disk storage server is down',
    2107: 'Requested media server does not have credentials or is not configured for the storage server',
    2111: 'All storage units are configured with On Demand Only and are not eligible for jobs requesting ANY storage unit',
    2820: 'NetBackup VMware policy restore error',
    2850: 'Restore error',
    4200: 'Operation failed: Unable to acquire snapshot lock',
    8509: 'The specified server name was not found in the web service certificate',
    4207: 'Could not fetch snapshot metadata or state files',
    4239: 'Unable to find the virtual machine',
    4246: 'The requested operation was partially successful.',
}

# Named statuses: raise sites say which status by name (NbuError(NO_SUCH_POLICY, ...)), so a
# reader never looks a number up. The message stays in MESSAGES above, the one table.
PARTIAL_SUCCESS = 1
NONE_BACKED_UP = 2
RESTORE_FAILED = 5
BACKUP_FAILED = 6
SYSTEM_CALL_FAILED = 11
FILE_OPEN_FAILED = 12
FILE_READ_FAILED = 13
FILE_WRITE_FAILED = 14
INVALID_PARAMETER = 20
SOCKET_OPEN_FAILED = 21
SOCKET_READ_FAILED = 23
SOCKET_WRITE_FAILED = 24
CANNOT_CONNECT = 25
HANDSHAKE_FAILED = 26
EXEC_FAILED = 29
CONNECTION_BROKEN = 40
CONNECTION_TIMED_OUT = 41
UNEXPECTED_MESSAGE = 43
SERVER_NOT_ALLOWED = 46
CLIENT_HOSTNAME_NOT_FOUND = 48
CLIENT_ABORTED = 50
MOUNT_TIMED_OUT = 52
CLIENT_CONNECT_TIMED_OUT = 54
PERMISSION_DENIED_BY_CLIENT = 55
CANT_CONNECT_TO_CLIENT = 58
CLIENT_ACCESS_NOT_ALLOWED = 59
INVALID_FILELIST = 69
MEDIA_MANAGER_KILLED = 82
MEDIA_OPEN_ERROR = 83
MEDIA_WRITE_ERROR = 84
MEDIA_READ_ERROR = 85
MEDIA_POSITION_ERROR = 86
MEDIA_CLOSE_ERROR = 87
WRONG_TAPE = 93
CANNOT_POSITION = 94
MEDIA_NOT_ASSIGNED = 95
NO_MEDIA_AVAILABLE = 96
MEDIA_IN_USE = 97
MEDIA_REQUEST_FAILED = 98
INIT_ERROR = 103
INVALID_DATE = 109
NO_CONFIGURATION = 110
NO_FILES_SPECIFIED = 112
DISK_FULL = 129
CLIENT_NOT_VALIDATED = 131
INVALID_REQUEST = 133
CLIENT_NOT_VALIDATED_FOR_OP = 135
PATH_NOT_ABSOLUTE = 141
INVALID_PROTOCOL = 143
DAEMON_RUNNING = 145
COPY_NOT_FOUND = 147
TERMINATED_BY_ADMIN = 150
NOT_MASTER = 153
MEDIA_DOWN = 164
SPANNING_NOT_ALLOWED = 166
NO_SUCH_POOL = 167
MEDIA_PROTECTED = 168
MEDIA_EXPIRED = 169
MEDIA_ID_TOO_LONG = 171
MEDIA_HEADER_UNREADABLE = 172
BACKUP_HEADER_UNREADABLE = 173
MEDIA_MANAGER_ERROR = 174
MEDIA_DEASSIGN_FAILED = 177
MEDIA_NOT_IN_POOL = 178
WRONG_DENSITY = 179
TAR_INVALID_ARGUMENT = 181
TAR_INVALID_ARCHIVE = 183
TAR_ERROR = 184
TAR_NO_DATA = 186
CLIENT_MAX_JOBS_ZERO = 194
WINDOW_CLOSED = 196
NO_SUCH_SCHEDULE = 197
NO_POLICY_SCHEDULE = 198
OUTSIDE_WINDOW = 199
NO_STORAGE_UNITS = 213
STU_UNAVAILABLE = 219
DATABASE_ERROR = 220
INVALID_ENTRY = 223
TEXT_TOO_LONG = 225
ENTITY_EXISTS = 226
NO_ENTITY = 227
CANNOT_PROCESS = 228
EVENTS_OUT_OF_SEQUENCE = 229
NO_SUCH_POLICY = 230
WINDOWS_OVERLAP = 231
PROTOCOL_ERROR = 232
PREMATURE_EOF = 233
NO_BUFFER_SPACE = 235
CLIENT_NOT_IN_ACTIVE_POLICY = 236
DATABASE_INCONSISTENT = 238
CLIENT_NOT_IN_POLICY = 239
WRONG_SCHEDULE_TYPE = 241
POLICY_NOT_ACTIVE = 247
LOGIC_ERROR = 256
INVALID_JOB_ID = 273
RESOURCE_REQUEST_FAILED = 800
INVALID_JOBID = 805
RESOURCE_BROKER_UNREACHABLE = 812
MEDIA_UNAVAILABLE = 2000
NO_DRIVES = 2001
DRIVE_PATHS_DOWN = 2008
DRIVES_DOWN_MEDIA_AVAILABLE = 2009
STU_MAX_JOBS_REACHED = 2040
STU_DISABLED = 2045
MEDIA_SERVER_NOT_FOUND = 2101
STUS_NOT_AVAILABLE = 2104
STU_ON_DEMAND_ONLY = 2111
CERT_NAME_MISMATCH = 8509


def message(status: int) -> str:
    """NetBackup's message for `status` (an unknown code still gets a readable line)."""
    return MESSAGES.get(status, f"unknown status code {status}")


class NbuError(Exception):
    """A failure that carries a NetBackup status code.

    `detail` is the context line printed above NetBackup's message (which policy, which path);
    the message itself always comes from the table, so two processes never disagree on it.
    A remote error crosses the wire as (status, detail) and is raised again as NbuError.
    """

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail

    @property
    def message(self) -> str:
        return message(self.status)

    def __str__(self) -> str:
        if self.detail:
            return f"{self.detail}: {self.message} (status {self.status})"
        return f"{self.message} (status {self.status})"


def exit_line(status: int) -> str:
    """The last line a command prints on stderr when it fails, as NetBackup prints it."""
    return f"EXIT STATUS {status}: {message(status)}"


def exit_code(status: int) -> int:
    """The shell's view of a status: modulo 256 as NetBackup's on UNIX, except that a failure
    never looks like success (256, 512... exit 255; the EXIT STATUS line has the number)."""
    code = status % 256
    return 255 if status and not code else code
