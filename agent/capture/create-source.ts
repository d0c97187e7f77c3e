/** Builds the configured camera source. */
import type { Config } from '../config.js';
import { LibcameraSource } from './libcamera.js';
import { OnvifSource } from './onvif-source.js';
import { RtspSource } from './rtsp.js';
import { SyntheticSource, type CameraSource } from './sources.js';
import { V4l2Source } from './v4l2.js';

export function createSource(config: Config): CameraSource {
  const { camera, record } = config;
  const { segmentSeconds } = record;
  const connectTimeoutSeconds = camera.connectTimeoutSeconds;
  switch (camera.source) {
    case 'synthetic':
      return new SyntheticSource({ ...camera.synthetic, segmentSeconds });
    case 'rtsp':
      if (!camera.rtsp) throw new Error('camera.source is rtsp but camera.rtsp.url is not set');
      return new RtspSource({ ...camera.rtsp, connectTimeoutSeconds });
    case 'onvif':
      if (!camera.onvif) throw new Error('camera.source is onvif but camera.onvif is not set');
      return new OnvifSource({ ...camera.onvif, connectTimeoutSeconds });
    case 'v4l2':
      return new V4l2Source({ ...camera.v4l2, segmentSeconds });
    case 'libcamera':
      return new LibcameraSource({ ...camera.libcamera, segmentSeconds });
    default: {
      const unknown: never = camera.source;
      throw new Error(`camera.source "${String(unknown)}" is not supported`);
    }
  }
}
