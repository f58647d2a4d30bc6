import { Command, Option } from 'commander';
import { formatDoctor, runDoctor } from '../doctor.js';
import { SERVICE_USER } from '../ownership.js';
import { configOption, example, jsonOption } from './options.js';

export interface DoctorOptions {
  config: string;
  json?: boolean;
  offline?: boolean;
  serviceUser: string;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .summary('Check config, key, delegation, API and provisioner')
    .description(
      'Check that this host can run the agent: the configuration is valid, the key is readable and matches the delegation, both files belong to the user the agent runs as and to nobody else (with the command that fixes them when not), the API is reachable and the delegation active, the provisioner is reachable. Exit code 0 when every check passes, 1 otherwise.',
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(new Option('--offline', 'check only the local files (config, key, their owner and mode, delegation)').env('DC_AGENT_DOCTOR_OFFLINE'))
    .addOption(new Option('--service-user <user>', 'run as root: the user the agent runs as, who must own the key and config').env('DC_AGENT_SERVICE_USER').default(SERVICE_USER))
    .addHelpText('after', example('dc-agent doctor --config /etc/dc-agent/config.toml --json'))
    .action(async (opts: DoctorOptions) => {
      const report = await runDoctor(opts.config, { offline: opts.offline, serviceUser: opts.serviceUser });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
