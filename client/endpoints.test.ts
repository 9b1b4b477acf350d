import t from 'tap';
import { EndpointError, parseEndpoint, parseEndpoints } from './endpoints.js';

t.test('endpoint forms etcd tools accept', async (t) => {
  t.same(parseEndpoint('http://127.0.0.1:2379'), {
    url: 'http://127.0.0.1:2379',
    target: '127.0.0.1:2379',
    secure: false,
  });
  t.same(parseEndpoint('127.0.0.1:2379'), { url: '127.0.0.1:2379', target: '127.0.0.1:2379', secure: false });
  t.same(parseEndpoint('https://[::1]:2379'), {
    url: 'https://[::1]:2379',
    target: '[::1]:2379',
    secure: true,
  });
  t.same(
    parseEndpoints(['http://a:1,http://b:2', 'http://a:1']).map((e) => e.target),
    ['a:1', 'b:2'],
    'comma lists are split and duplicates dropped',
  );
});

t.test('bad endpoints are refused with a reason', async (t) => {
  t.throws(() => parseEndpoint(''), new EndpointError('empty endpoint'));
  t.throws(() => parseEndpoint('ftp://a:1'), /scheme must be http or https/);
  t.throws(() => parseEndpoint('http://a'), /no port/);
  t.throws(() => parseEndpoint('http://a:1/path'), /only scheme, host and port/);
  t.throws(() => parseEndpoint('http://a b:1'), /invalid endpoint/);
  t.throws(() => parseEndpoints([' , ']), /no endpoints given/);
});
