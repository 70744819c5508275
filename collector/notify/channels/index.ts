import type { Channel } from '../types';
import { appriseApi } from './apprise-api';
import { appriseCli } from './apprise-cli';
import { ntfy } from './ntfy';
import { webhook } from './webhook';

// The channel registry: adding a channel is one module and one line here.
export const CHANNELS = Object.freeze({
  ntfy,
  'apprise-api': appriseApi,
  'apprise-cli': appriseCli,
  webhook,
} satisfies Record<string, Channel>);

export type ChannelType = keyof typeof CHANNELS;
export const CHANNEL_TYPES = Object.keys(CHANNELS) as ChannelType[];
