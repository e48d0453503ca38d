package e2e
{
    import e2e.codegen.Address;
    import e2e.codegen.Badge;
    import e2e.codegen.Customer;

    import org.apache.royale.net.Responder;
    import org.apache.royale.net.remoting.amf.AMFNetConnection;
    import org.apache.royale.reflection.MetaDataArgDefinition;
    import org.apache.royale.reflection.MetaDataDefinition;
    import org.apache.royale.reflection.VariableDefinition;
    import org.apache.royale.reflection.describeType;
    import org.apache.royale.reflection.getDynamicFields;
    import org.apache.royale.reflection.getQualifiedClassName;
    import org.apache.royale.reflection.registerClassAlias;
    import org.apache.royale.utils.BinaryData;

    /**
     * The classes amfast.codegen wrote from the server's codegen_mapper (tests/e2e/server.py,
     * generated into .build/generated-as3 by make e2e): each is registered under the alias of
     * its own [RemoteClass] metadata, then one object of each goes to e2e.echo and must come
     * back as an instance of the same class with the same members.
     */
    public class Codegen
    {
        private static const CLASSES:Array = [Address, Customer, Badge];

        private var gateway:String;
        private var record:Function;
        private var describe:Function;

        /** record(name, sent, outcome, got) and describe(value) are the client's own. */
        public function Codegen(gateway:String, record:Function, describe:Function)
        {
            this.gateway = gateway;
            this.record = record;
            this.describe = describe;
        }

        public function run(next:Function):void
        {
            var aliases:Array = [];
            for each (var cls:Class in CLASSES)
                aliases = aliases.concat(registerRemoteClass(cls));
            record("codegen.remote_class_aliases", null, "result", describe(aliases));

            var address:Address = new Address();
            address.street = "Main St";
            address.number = 12;
            address.lines = ["flat 3"];

            var avatar:BinaryData = new BinaryData();
            for each (var byte:int in [0, 1, 255])
                avatar.writeByte(byte);
            var customer:Customer = new Customer();
            customer.id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
            customer.name = "Ann";
            customer.score = 4.5;
            customer.vip = true;
            customer.joined = new Date(1577934245678);
            customer.level = 2;
            customer.address = new Address();
            customer.address.street = "Side St";
            customer.address.number = 1;
            customer.address.lines = [];
            customer.tags = ["a", "b"];
            customer.ratings = {"speed": 4.5};
            customer.avatar = avatar;
            customer.nickname = null;

            var badge:Badge = new Badge();
            badge.label = "gold";
            badge.weight = 2.5;
            badge["color"] = "red";

            var calls:Array = [["codegen.address", address], ["codegen.customer", customer],
                               ["codegen.badge", badge]];
            var left:int = calls.length;
            var nc:AMFNetConnection = new AMFNetConnection();
            nc.connect(gateway);
            for each (var c:Array in calls)
                echo(nc, c[0], c[1], function():void {
                    if (--left == 0) next();
                });
        }

        /** The aliases of cls's [RemoteClass] metadata, each registered for cls. */
        private static function registerRemoteClass(cls:Class):Array
        {
            var aliases:Array = [];
            for each (var meta:MetaDataDefinition in describeType(cls).retrieveMetaDataByName("RemoteClass"))
                for each (var arg:MetaDataArgDefinition in meta.getArgsByKey("alias"))
                {
                    registerClassAlias(arg.value, cls);
                    aliases.push(arg.value);
                }
            return aliases;
        }

        private function echo(nc:AMFNetConnection, name:String, value:Object, done:Function):void
        {
            var sent:Object = describe(members(value));
            nc.call("e2e.echo", new Responder(
                function(result:*):void {
                    record(name, sent, "result", describe(members(result)));
                    done();
                },
                function(fault:*):void {
                    record(name, sent, "fault", describe(fault));
                    done();
                }), name, value);
        }

        /**
         * An instance of a generated class as a plain object: its class name, its declared
         * variables and its dynamic members (the client's describe() lists only members it
         * knows by name); any other value as it is.
         */
        private static function members(v:*):*
        {
            if (!(v is Address || v is Customer || v is Badge))
                return v;
            var out:Object = {"className": getQualifiedClassName(v)};
            for each (var variable:VariableDefinition in describeType(v).variables)
                out[variable.name] = members(v[variable.name]);
            for each (var name:String in getDynamicFields(v))
                out[name] = members(v[name]);
            return out;
        }
    }
}
