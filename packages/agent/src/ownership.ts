// Who owns the agent's key and config. The systemd unit runs `dc-agent run` as the service user
// the installer created (`dc-agent`), which must be able to read both; nobody else may (they hold
// the agent's private key and provisioner secrets). `setup` run as root hands the files to that
// user; `doctor` finds files that user cannot read, or that others can, and prints the command
// that fixes them.
import { execFileSync } from 'node:child_process';
import { statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';

/** The user the installer creates and the systemd unit runs as. */
export const SERVICE_USER = 'dc-agent';

export interface Owner {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export const isRoot = (): boolean => process.geteuid?.() === 0;

/** The user `name` as the system knows it (NSS, LDAP included), or null when there is none. */
export function findUser(name: string): Owner | null {
  const id = (flag: string) => execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const uid = Number(id('-u'));
    const gid = Number(id('-g'));
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
    return { user: name, group: id('-gn'), uid, gid };
  } catch {
    return null;
  }
}

/**
 * Whose files these should be: as root, the service user when it exists (the unit runs as it; no
 * such user means the agent runs as root, and root reads anything); as anyone else, that user.
 */
export function expectedOwner(serviceUser: string = SERVICE_USER): Owner | null {
  if (isRoot()) return findUser(serviceUser);
  const me = userInfo();
  return findUser(me.username) ?? { user: me.username, group: String(me.gid), uid: me.uid, gid: me.gid };
}

export interface FileCheck {
  ok: boolean;
  /** One sentence per problem. */
  problems: string[];
  /** The shell command that fixes them all (empty when ok). */
  fix: string;
}

/** Whether `who` may use `st` for `bits` (4 read, 2 write, 1 search), by owner, group, then others. */
function allowed(st: Stats, who: Owner, bits: number): boolean {
  const perm = st.uid === who.uid ? (st.mode >> 6) & 7 : st.gid === who.gid ? (st.mode >> 3) & 7 : st.mode & 7;
  return (perm & bits) === bits;
}

/**
 * Checks the key and config files: owned by `owner` (when given) and closed to group and others
 * (0600); and their directory enterable by `owner`. Files that do not exist are left to the other
 * checks. `owner` null: only the modes are checked.
 */
export function checkFiles(files: string[], owner: Owner | null): FileCheck {
  const problems: string[] = [];
  const chown: string[] = [];
  const chmod: string[] = [];
  const dirs = new Set<string>();
  for (const path of files) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    dirs.add(dirname(path));
    if (owner && st.uid !== owner.uid) {
      problems.push(`${path} is owned by uid ${st.uid}, not ${owner.user} (uid ${owner.uid}), which runs the agent and must read it`);
      chown.push(path);
    }
    if ((st.mode & 0o077) !== 0) {
      problems.push(`${path} is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read it (it holds secrets)`);
      chmod.push(path);
    }
  }
  if (owner && owner.uid !== 0) {
    for (const dir of dirs) {
      const st = statSync(dir, { throwIfNoEntry: false });
      if (st && !allowed(st, owner, 1)) {
        problems.push(`${owner.user} cannot enter ${dir} (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`);
        chown.unshift(dir);
      }
    }
  }
  const fixes: string[] = [];
  if (owner && chown.length > 0) fixes.push(`chown ${owner.user}:${owner.group} ${chown.map(shellQuote).join(' ')}`);
  if (chmod.length > 0) fixes.push(`chmod 600 ${chmod.map(shellQuote).join(' ')}`);
  return { ok: problems.length === 0, problems, fix: fixes.join(' && ') };
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./@:+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
