/** Checks of `train` that must pass before any data work: the dashboard's address can be listened on. */
import { PortInUseError } from "../dashboard/start.ts";
import { UsageError } from "./command.ts";

/** Throws a `UsageError` when `host:port` cannot be listened on (port taken, or not an address of this machine). */
export function checkListen(host: string, port: number): void {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: host, port });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) throw new UsageError(new PortInUseError(host, port).message);
    throw new UsageError(
      `--host ${host} cannot be listened on (${(e as Error).message}): give an address of this machine ` +
        "(127.0.0.1 for this machine only, 0.0.0.0 for every interface), or --no-dashboard",
    );
  }
  listener.close();
}
