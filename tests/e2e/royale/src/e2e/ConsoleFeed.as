package e2e
{
    import mx.messaging.ChannelSet;
    import mx.messaging.Consumer;
    import mx.messaging.Producer;
    import mx.messaging.channels.AMFChannel;
    import mx.messaging.events.MessageAckEvent;
    import mx.messaging.events.MessageEvent;
    import mx.messaging.events.MessageFaultEvent;
    import mx.messaging.messages.AsyncMessage;
    import mx.rpc.AsyncToken;
    import mx.rpc.Responder;

    /**
     * The Royale client that the console's end-to-end test watches (tests/e2e/test_console.py).
     *
     * Opened as royale/index.html?console=1, it connects to the long-polling channel,
     * subscribes a Consumer to e2e-chat (subtopic "console"), logs in, and then publishes a
     * message there every PERIOD ms for at most LIMIT ms, receiving each one back: the console
     * sees a connected, logged-in Royale client and messages flowing.  What it did is in
     * window.consoleFeed: {dsid, sent, received, error}.
     */
    public class ConsoleFeed
    {
        private static const TOPIC:String = "e2e-chat";
        private static const SUBTOPIC:String = "console";
        private static const PERIOD:int = 200;
        private static const LIMIT:int = 120000;

        private var origin:String;
        private var state:Object;
        private var cs:ChannelSet;
        private var consumer:Consumer;
        private var producer:Producer;
        private var started:Number;

        /** Whether the page was opened for the console's test. */
        public static function wanted():Boolean
        {
            return window.location.search.indexOf("console=1") >= 0;
        }

        public function ConsoleFeed(origin:String)
        {
            this.origin = origin;
        }

        public function start():void
        {
            state = {"dsid": null, "sent": 0, "received": 0, "error": null};
            window["consoleFeed"] = state;
            var channel:AMFChannel = new AMFChannel("console",
                                                    origin + "/amf-longpoll?client=royale-console");
            channel.pollingEnabled = true;
            channel.pollingInterval = 0;
            cs = new ChannelSet();
            cs.addChannel(channel);
            consumer = new Consumer();
            consumer.channelSet = cs;
            consumer.destination = TOPIC;
            consumer.subtopic = SUBTOPIC;
            consumer.addEventListener(MessageEvent.MESSAGE, function(e:MessageEvent):void {
                state["received"] = state["received"] + 1;
            });
            consumer.addEventListener(MessageFaultEvent.FAULT, fault);
            producer = new Producer();
            producer.channelSet = cs;
            producer.destination = TOPIC;
            producer.subtopic = SUBTOPIC;
            producer.addEventListener(MessageFaultEvent.FAULT, fault);
            var subscribed:Function = function(e:MessageAckEvent):void {
                consumer.removeEventListener(MessageAckEvent.ACKNOWLEDGE, subscribed);
                var headers:Object = e.message.headers;
                state["dsid"] = headers ? headers["DSId"] : null;
                // A connected channel set can log in: the console then shows the user.
                var token:AsyncToken = cs.login("correct", "correct");
                token.addResponder(new mx.rpc.Responder(function(result:Object):void {
                    started = new Date().getTime();
                    publish();
                }, function(failure:Object):void {
                    state["error"] = "login failed";
                }));
            };
            consumer.addEventListener(MessageAckEvent.ACKNOWLEDGE, subscribed);
            consumer.subscribe();
        }

        private function publish():void
        {
            if (new Date().getTime() - started > LIMIT)
            {
                consumer.unsubscribe();
                cs.disconnectAll();
                return;
            }
            producer.send(new AsyncMessage({"n": state["sent"], "text": "from the Royale client"}));
            state["sent"] = state["sent"] + 1;
            setTimeout(publish, PERIOD);
        }

        private function fault(e:MessageFaultEvent):void
        {
            state["error"] = e.faultCode + ": " + e.faultString;
            console.log("[console feed] fault " + state["error"]);
        }
    }
}
