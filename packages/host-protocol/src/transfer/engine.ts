/**
 * The transfer engine's source as the host runs it: scripts/transfer.py (the shared machinery),
 * transfer-in.py and transfer-out.py joined into one Python program, passed as `python3 -c` (an
 * argument: it must stay under Linux's 128 KiB limit for one, which a test checks).
 */
import { scriptSource } from '../render';

const PARTS = ['transfer.py', 'transfer-in.py', 'transfer-out.py'] as const;

let joined: string | undefined;

export function engineSource(): string {
  joined ??= PARTS.map((part) => scriptSource(part)).join('\n\n');
  return joined;
}
