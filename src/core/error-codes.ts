/**
 * The registry of stable error codes. A code never changes meaning once released;
 * docs/errors.md documents every one of them (a test enforces it).
 * `exit` is the process exit status the CLI uses when the error ends a command.
 */
export const errorCodes = {
  INVALID_ARGUMENT: { exit: 2, summary: 'A command-line option or API argument is malformed or out of range.' },
  ABORTED: { exit: 130, summary: 'The operation was cancelled through its AbortSignal (Ctrl-C, job cancel).' },
  INTERNAL: { exit: 1, summary: 'An unexpected internal failure; the message and cause say what.' },

  STORAGE_NOT_FOUND: { exit: 1, summary: 'A storage object does not exist.' },
  STORAGE_EXISTS: { exit: 1, summary: 'A storage object already exists and objects are never overwritten.' },
  STORAGE_IO: { exit: 1, summary: 'The storage backend failed to read, write, list or delete an object.' },
  STORAGE_NO_SPACE: { exit: 1, summary: 'The storage backend is out of space; nothing partial was left visible.' },
  STORAGE_READ_ONLY: { exit: 1, summary: 'The storage backend refuses writes (read-only file system or permissions).' },

  VAULT_NOT_FOUND: { exit: 1, summary: 'The directory is not a Boveda vault (no config object).' },
  VAULT_EXISTS: { exit: 1, summary: 'A vault (or other files) already exist where a new vault was to be created.' },
  VAULT_UNSUPPORTED_VERSION: { exit: 1, summary: 'The vault was written by a newer format version than this Boveda understands.' },
  VAULT_CONFIG_INVALID: { exit: 1, summary: 'The vault config object is corrupt or was tampered with.' },
  VAULT_WRONG_KEY: { exit: 5, summary: 'No key slot of the vault opens with the given passphrase or key file.' },
  VAULT_NO_KEY: { exit: 5, summary: 'No passphrase or key file was given to open the vault.' },
  VAULT_KEY_SLOT_NOT_FOUND: { exit: 1, summary: 'The named key slot does not exist.' },
  VAULT_LAST_KEY_SLOT: { exit: 1, summary: 'Removing the key slot would leave the vault with no way to open it.' },
  VAULT_LOCKED: { exit: 4, summary: 'Another live process holds a conflicting lock on the vault.' },
  VAULT_OBJECT_CORRUPT: { exit: 3, summary: 'A vault object (pack, index, manifest, map page or block) failed authentication or decoding.' },
  VAULT_OBJECT_MISSING: { exit: 3, summary: 'A vault object referenced by another one does not exist.' },
  VAULT_DAMAGED: { exit: 3, summary: 'Verification found damage; the report names the objects and the affected recovery points.' },
  POINT_NOT_FOUND: { exit: 1, summary: 'No recovery point with that id (or id prefix) exists in the vault.' },
  POINT_AMBIGUOUS: { exit: 2, summary: 'A recovery point id prefix matches more than one point.' },
  DISK_NOT_FOUND: { exit: 1, summary: 'A disk (of a VM, or of a recovery point) does not exist or its path is missing.' },
  DISK_UNREADABLE: { exit: 1, summary: 'A disk exists but cannot be opened or read (permissions, I/O error, not a file or block device).' },
  DISK_SIZE_CHANGED: { exit: 1, summary: 'A disk changed size while it was being backed up; the point was not written.' },

  VM_NOT_FOUND: { exit: 1, summary: 'No protected VM of that name.' },
  VM_EXISTS: { exit: 1, summary: 'A VM of that name is already defined.' },
  VM_BUSY: { exit: 4, summary: 'Another backup or restore of the same VM is running.' },
  VM_RUNNING: { exit: 4, summary: 'The VM is running (its QMP monitor answers); the operation needs it stopped.' },
  RESTORE_TARGET_EXISTS: { exit: 1, summary: 'The restore target exists and --force was not given.' },
  CATALOG_ERROR: { exit: 1, summary: 'The catalog database failed (open, migration, query); the message names the file.' },

  POLICY_NOT_FOUND: { exit: 1, summary: 'No backup policy of that name.' },
  POLICY_EXISTS: { exit: 1, summary: 'A backup policy of that name already exists.' },
  POLICY_IN_USE: { exit: 1, summary: 'The policy still protects VMs and cannot be deleted.' },
  ALREADY_PROTECTED: { exit: 1, summary: 'The VM is already protected (or stopped or soft-deleted with data kept).' },
  NOT_PROTECTED: { exit: 1, summary: 'The VM has no protected item (never protected, or its data was deleted).' },
  INVALID_STATE: { exit: 1, summary: 'The protected item is not in a state that allows the action (e.g. resume of an item that is not stopped).' },
  UNDELETE_WINDOW_PASSED: { exit: 1, summary: 'The soft-delete window is over; the data was or will be purged and cannot be undeleted.' },
  JOB_NOT_FOUND: { exit: 1, summary: 'No job with that id.' },

  QEMU_UNREACHABLE: { exit: 1, summary: 'A QEMU endpoint (QMP monitor, guest agent or NBD server socket) cannot be reached, or closed the connection.' },
  QEMU_PROTOCOL: { exit: 1, summary: 'A QEMU endpoint sent something malformed, unexpected or oversized; the connection is dropped.' },
  QEMU_TIMEOUT: { exit: 1, summary: 'A QEMU endpoint did not answer in time.' },
  QMP_COMMAND_FAILED: { exit: 1, summary: 'QEMU (QMP) or the guest agent answered a command with an error; the message names the command and carries QEMU\'s class and description.' },
  NBD_REQUEST_FAILED: { exit: 1, summary: 'The NBD server answered a request or option with an error; the message names the export, the request and the error.' },

  AUTH_REQUIRED: { exit: 6, summary: 'The server needs a login or API token for this request (none given, or it is unknown, revoked or expired).' },
  AUTH_FAILED: { exit: 6, summary: 'Wrong user name or password.' },
  FORBIDDEN: { exit: 6, summary: 'The signed-in user\'s role does not allow the action; the message names the permission needed.' },
  RATE_LIMITED: { exit: 4, summary: 'Too many attempts (e.g. failed logins); the message says when to try again.' },
  USER_NOT_FOUND: { exit: 1, summary: 'No user of that name.' },
  USER_EXISTS: { exit: 1, summary: 'A user of that name already exists.' },
  LAST_ADMIN: { exit: 1, summary: 'The change would leave no enabled admin.' },
  TOKEN_NOT_FOUND: { exit: 1, summary: 'No API token with that id.' },
  SECRET_NOT_FOUND: { exit: 1, summary: 'No disk-encryption secret of that name (for the VM, or in the recovery point).' },
  PATH_NOT_ALLOWED: { exit: 2, summary: 'A disk or restore path given to the server is outside the directories it is allowed to use.' },
  NOT_FOUND: { exit: 1, summary: 'No API route or resource at that path.' },
  SERVER_UNREACHABLE: { exit: 1, summary: 'The Boveda server named by BOVEDA_SERVER cannot be reached or answered with something that is not its API.' },
} as const satisfies Record<string, { exit: number; summary: string }>;

export type ErrorCode = keyof typeof errorCodes;
